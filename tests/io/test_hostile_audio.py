"""Input crafted to crash or exhaust the decoder gets a one-line AudioError or a bounded result."""

import io
import struct
import subprocess
import sys

import helpers
import numpy as np
import pytest
import soundfile as sf

from voxgender.errors import AudioError
from voxgender.io.audio import MAX_RATE, MIN_RATE, SAMPLE_RATE, load_audio, read_blocks


def wav_bytes(audio: np.ndarray, rate: int = SAMPLE_RATE) -> bytearray:
    buffer = io.BytesIO()
    sf.write(buffer, audio, rate, format="WAV", subtype="PCM_16")
    return bytearray(buffer.getvalue())


def one_line(err: AudioError, *parts: str) -> None:
    message = str(err)
    assert "\n" not in message
    for part in parts:
        assert part in message, (part, message)


@pytest.mark.parametrize("channels", [8, 12])
def test_many_channels_through_ffmpeg_are_averaged_not_a_crash(tmp_path, female_clip, channels):
    """PyAV reads at most eight planes; more used to kill the process. Run in a child process so a
    crash fails this test instead of ending the suite."""
    path = helpers.encode_with_pyav(tmp_path / f"c{channels}.mka", np.tile(female_clip[:, None], (1, channels)),
                                    SAMPLE_RATE, "pcm_s16le", "matroska")
    code = f"from voxgender.io.audio import load_audio; a = load_audio({str(path)!r}); print(a.size)"
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr[-500:]
    assert int(run.stdout) == female_clip.size
    out = load_audio(path)
    assert helpers.max_correlation(out, female_clip) > 0.999


@pytest.mark.parametrize("rate", [1, MIN_RATE - 1, MAX_RATE + 1])
def test_a_header_sample_rate_outside_real_recordings_is_refused_before_resampling(female_clip, rate):
    data = wav_bytes(female_clip)
    data[24:28] = struct.pack("<I", rate)
    data[28:32] = struct.pack("<I", rate * 2)
    with pytest.raises(AudioError) as info:
        load_audio(bytes(data), name="rate.wav")
    one_line(info.value, "rate.wav", f"sample rate {rate} Hz")


def test_a_header_claiming_32_channels_gives_a_bounded_result_or_one_line(female_clip):
    data = wav_bytes(female_clip)
    data[22:24] = struct.pack("<H", 32)
    data[32:34] = struct.pack("<H", 64)
    try:
        out = load_audio(bytes(data), name="ch32.wav")
    except AudioError as err:
        one_line(err, "ch32.wav")
    else:
        assert out.size <= female_clip.size


def test_an_mp3_whose_xing_header_claims_billions_of_frames_decodes_what_is_there(female_clip):
    buffer = io.BytesIO()
    sf.write(buffer, female_clip, SAMPLE_RATE, format="MP3", subtype="MPEG_LAYER_III")
    data = bytearray(buffer.getvalue())
    xing = data.find(b"Xing")
    assert xing >= 0, "libsndfile's MP3 writer puts a Xing header first"
    data[xing + 8:xing + 12] = struct.pack(">I", 0xFFFFFFF0)  # the frame count
    assert sf.info(io.BytesIO(bytes(data))).frames > 10**12
    out = load_audio(bytes(data), name="bomb.mp3")
    assert abs(out.size - female_clip.size) < 0.1 * SAMPLE_RATE


def test_audio_longer_than_the_maximum_duration_is_refused_as_it_decodes(tmp_path):
    path = tmp_path / "long.flac"
    sf.write(path, np.full(60 * SAMPLE_RATE, 0.01, np.float32), SAMPLE_RATE)
    with pytest.raises(AudioError) as info:
        load_audio(path, max_duration_s=10)
    one_line(info.value, str(path), "longer than the 10 s allowed")
    assert load_audio(path, max_duration_s=61).size == 60 * SAMPLE_RATE


def test_running_out_of_memory_while_decoding_is_an_audio_error(monkeypatch, female_clip):
    import voxgender.io.audio as audio

    def exhausted(*_):
        raise MemoryError
        yield  # a generator, as the real one

    monkeypatch.setattr(audio, "_soundfile_chunks", exhausted)
    with pytest.raises(AudioError) as info:
        load_audio(bytes(wav_bytes(female_clip)), name="big.wav")
    one_line(info.value, "big.wav", "too large to decode")


def test_block_reading_checks_the_header_too(female_clip):
    data = wav_bytes(female_clip)
    data[24:28] = struct.pack("<I", 1)
    with pytest.raises(AudioError):
        list(read_blocks(bytes(data), SAMPLE_RATE, name="onehz.wav"))
