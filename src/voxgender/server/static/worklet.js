// AudioWorklet: microphone samples at the context's rate -> 16 kHz mono Int16 blocks of 100 ms.
// Resampling is a windowed-sinc interpolator (Hann window, cut-off just below the lower Nyquist),
// so 44.1/48 kHz input is low-passed before it is decimated.
const OUT_RATE = 16000;
const BLOCK = 1600; // 100 ms at 16 kHz

class Pcm16k extends AudioWorkletProcessor {
  constructor() {
    super();
    this.step = sampleRate / OUT_RATE; // input samples per output sample
    this.cutoff = 0.95 * Math.min(1, 1 / this.step); // fraction of the input Nyquist
    this.half = Math.ceil(8 * Math.max(1, this.step)); // taps on each side
    this.buf = new Float32Array(0);
    this.pos = 0; // position of the next output sample in buf (fractional)
    this.block = new Int16Array(BLOCK);
    this.fill = 0;
  }

  kernel(x) {
    if (Math.abs(x) >= this.half) return 0;
    const window = 0.5 + 0.5 * Math.cos((Math.PI * x) / this.half);
    const y = Math.PI * this.cutoff * x;
    return this.cutoff * (y === 0 ? 1 : Math.sin(y) / y) * window;
  }

  emit(value) {
    this.block[this.fill++] = Math.max(-32768, Math.min(32767, Math.round(value * 32767)));
    if (this.fill === BLOCK) {
      this.port.postMessage(this.block.buffer, [this.block.buffer]);
      this.block = new Int16Array(BLOCK);
      this.fill = 0;
    }
  }

  process(inputs) {
    const input = inputs[0] && inputs[0][0];
    if (!input) return true;
    const joined = new Float32Array(this.buf.length + input.length);
    joined.set(this.buf);
    joined.set(input, this.buf.length);
    this.buf = joined;
    while (this.pos + this.half < this.buf.length) {
      const centre = Math.floor(this.pos);
      let acc = 0;
      for (let k = Math.max(0, centre - this.half + 1); k <= centre + this.half; k++) {
        acc += this.buf[k] * this.kernel(this.pos - k);
      }
      this.emit(acc);
      this.pos += this.step;
    }
    const drop = Math.floor(this.pos) - this.half;
    if (drop > 0) {
      this.buf = this.buf.slice(drop);
      this.pos -= drop;
    }
    return true;
  }
}

registerProcessor("pcm16k", Pcm16k);
