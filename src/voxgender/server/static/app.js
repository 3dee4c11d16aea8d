// The live page: microphone -> AudioWorklet (16 kHz Int16, 100 ms blocks) -> WebSocket /v1/stream,
// decisions drawn as a scrolling timeline; files go to POST /v1/predict.
"use strict";

// A server started with --token: open the page as /?token=TOKEN.
const TOKEN = new URLSearchParams(location.search).get("token");

const COLORS = { female: "#c2185b", male: "#1565c0", none: "#cfcfcf" };
const HISTORY = 300; // decisions kept on the live timeline (30 s)
const $ = (id) => document.getElementById(id);

function drawTimeline(canvas, items, slots) {
  // items: [{label, confidence}] oldest first; one bar each of width/slots, height = confidence
  const ctx = canvas.getContext("2d");
  const width = canvas.width, height = canvas.height;
  ctx.clearRect(0, 0, width, height);
  const bar = width / Math.max(items.length, slots);
  items.forEach((item, i) => {
    const h = item.label === "none" ? 0.08 * height : Math.max(0.08, item.confidence || 0) * height;
    ctx.fillStyle = COLORS[item.label] || COLORS.none;
    ctx.fillRect(i * bar, height - h, Math.max(1, bar - 1), h);
  });
}

function showLabel(label, confidence) {
  $("label").textContent = label;
  $("label").dataset.label = label;
  $("confidence").textContent = confidence == null ? "–" : `${Math.round(confidence * 100)}%`;
}

class LiveSession {
  constructor() {
    this.history = [];
  }

  async start() {
    this.media = await navigator.mediaDevices.getUserMedia({
      audio: { channelCount: 1, echoCancellation: false, noiseSuppression: false, autoGainControl: false },
    });
    this.context = new AudioContext();
    await this.context.audioWorklet.addModule("worklet.js");
    const source = this.context.createMediaStreamSource(this.media);
    this.node = new AudioWorkletNode(this.context, "pcm16k");
    const mute = this.context.createGain();
    mute.gain.value = 0;
    source.connect(this.node).connect(mute).connect(this.context.destination);
    const scheme = location.protocol === "https:" ? "wss" : "ws";
    const auth = TOKEN ? `&token=${encodeURIComponent(TOKEN)}` : "";
    this.socket = new WebSocket(`${scheme}://${location.host}/v1/stream?sample_rate=16000&encoding=pcm_s16le${auth}`);
    this.socket.binaryType = "arraybuffer";
    this.socket.onmessage = (event) => this.onMessage(JSON.parse(event.data));
    this.socket.onclose = () => this.stopAudio();
    this.socket.onopen = () => {
      $("status").textContent = `listening (${this.context.sampleRate} Hz → 16 kHz)`;
      this.node.port.onmessage = (e) => this.socket.readyState === WebSocket.OPEN && this.socket.send(e.data);
    };
  }

  onMessage(msg) {
    if (msg.error) {
      $("status").textContent = `error: ${msg.error}`;
      $("status").className = "error";
    } else if (msg.final) {
      $("summary").textContent = msg.label === "none" ? "No speech heard."
        : `Overall: ${msg.label} (${Math.round(msg.confidence * 100)}%) over ${msg.speech_s.toFixed(1)} s of speech.`;
    } else {
      showLabel(msg.label, msg.confidence);
      this.history.push(msg);
      if (this.history.length > HISTORY) this.history.shift();
      drawTimeline($("timeline"), this.history, HISTORY / 3);
    }
  }

  stop() {
    if (this.socket && this.socket.readyState === WebSocket.OPEN) this.socket.send("end");
    this.stopAudio();
  }

  stopAudio() {
    if (this.node) this.node.port.onmessage = null;
    if (this.media) this.media.getTracks().forEach((t) => t.stop());
    if (this.context && this.context.state !== "closed") this.context.close();
    $("start").disabled = false;
    $("stop").disabled = true;
    if (!$("status").classList.contains("error")) $("status").textContent = "stopped";
  }
}

let session = null;
$("start").onclick = async () => {
  $("start").disabled = true;
  $("stop").disabled = false;
  $("status").className = "";
  $("status").textContent = "starting…";
  session = new LiveSession();
  try {
    await session.start();
  } catch (err) {
    $("status").textContent = `microphone unavailable: ${err.message || err}`;
    $("status").className = "error";
    session.stopAudio();
  }
};
$("stop").onclick = () => session && session.stop();

async function predictFile(file) {
  const out = $("file-result");
  out.className = "";
  out.textContent = `analysing ${file.name}…`;
  const form = new FormData();
  form.append("file", file);
  try {
    const headers = TOKEN ? { Authorization: `Bearer ${TOKEN}` } : {};
    const response = await fetch("/v1/predict", { method: "POST", body: form, headers });
    const result = await response.json();
    if (!response.ok) throw new Error(result.error || response.statusText);
    out.dataset.label = result.label;
    out.innerHTML = result.label === "none"
      ? `<b class="none">none</b> — no speech heard in ${result.duration_s.toFixed(1)} s`
      : `<b class="${result.label}">${result.label}</b> — confidence ${Math.round(result.confidence * 100)}%, ` +
        `p_female ${result.p_female.toFixed(3)}, ${result.duration_s.toFixed(1)} s, ${result.speech_s.toFixed(1)} s of speech`;
    drawTimeline($("file-timeline"), result.timeline.map((s) => ({
      label: s.label, confidence: s.p_female == null ? 0 : Math.max(s.p_female, 1 - s.p_female) })), 10);
  } catch (err) {
    out.textContent = `${file.name}: ${err.message || err}`;
    out.className = "error";
    out.dataset.label = "error";
  }
}

$("file").onchange = (e) => e.target.files[0] && predictFile(e.target.files[0]);
const drop = $("drop");
drop.ondragover = (e) => { e.preventDefault(); drop.classList.add("over"); };
drop.ondragleave = () => drop.classList.remove("over");
drop.ondrop = (e) => {
  e.preventDefault();
  drop.classList.remove("over");
  if (e.dataTransfer.files[0]) predictFile(e.dataTransfer.files[0]);
};
