"""The live page in a real headless Chromium: its fake microphone plays a synthetic voice, the page
resamples it to 16 kHz in an AudioWorklet and streams it to the server, and we read the label it shows.

Needs Debian's ``chromium`` (/usr/bin/chromium) and the ``playwright`` package; skips without them.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest
import soundfile as sf

CHROMIUM = Path("/usr/bin/chromium")
if not CHROMIUM.exists():
    pytest.skip("Debian's chromium is not installed (apt-get install chromium)", allow_module_level=True)
playwright = pytest.importorskip("playwright.sync_api")
uvicorn = pytest.importorskip("uvicorn")

from voxgender.model import load_model  # noqa: E402
from voxgender.server import create_app  # noqa: E402
from voxgender.synth import synth_clip  # noqa: E402

FLAGS = ["--no-sandbox", "--headless", "--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream",
         "--disable-background-networking", "--disable-component-update", "--disable-sync", "--no-first-run",
         "--autoplay-policy=no-user-gesture-required"]


@pytest.fixture(scope="module")
def model():
    return load_model()


@pytest.fixture(scope="module")
def server_url(model):
    """The real service under uvicorn on a free loopback port, in a thread of this process."""
    server = uvicorn.Server(uvicorn.Config(create_app(model), host="127.0.0.1", port=0, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.05)
    assert server.started, "uvicorn did not start"
    port = server.servers[0].sockets[0].getsockname()[1]
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(timeout=10)


def voice(model, gender: str, seed: int, path: Path) -> Path:
    """A 4 s synthetic voice that the model itself labels as ``gender`` with confidence (checked): the
    test is of the page and the stream, not of the model on a voice it finds ambiguous."""
    clip = synth_clip(gender, 4.0, seed)
    prediction = model.predict(clip)
    assert prediction.label == gender and prediction.confidence > 0.95, f"pick another seed: {prediction}"
    sf.write(path, clip, 16000, subtype="PCM_16")
    return path


def test_page_shows_the_label_of_the_microphone_voice_and_of_a_file(tmp_path, model, server_url):
    microphone = voice(model, "female", 1, tmp_path / "female.wav")
    upload = voice(model, "male", 0, tmp_path / "male.wav")
    with playwright.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM),
                                    args=[*FLAGS, f"--use-file-for-fake-audio-capture={microphone}"])
        try:
            page = browser.new_page()
            page.goto(server_url)
            page.click("#start")
            page.wait_for_function("document.getElementById('label').dataset.label !== 'none'", timeout=20000)
            seen = []
            for _ in range(20):  # two seconds of what the page shows
                seen.append(page.get_attribute("#label", "data-label"))
                page.wait_for_timeout(100)
            status = page.text_content("#status")
            page.set_input_files("#file", str(upload))
            page.wait_for_function(
                "['male', 'female', 'error'].includes(document.getElementById('file-result').dataset.label)",
                timeout=20000)
            file_label = page.get_attribute("#file-result", "data-label")
            page.screenshot(path=str(tmp_path / "page.png"))
        finally:
            browser.close()
    assert "listening" in status and "16 kHz" in status
    labelled = [label for label in seen if label != "none"]
    assert labelled and labelled.count("female") / len(labelled) >= 0.8, seen
    assert file_label == "male"
