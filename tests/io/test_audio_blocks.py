"""Block reading of long files: same samples as whole-file decoding, with context, bounded memory."""

import numpy as np
import pytest
import soundfile as sf
from helpers import encode_with_pyav

from voxgender.errors import AudioError
from voxgender.io.audio import load_audio, read_blocks


def reassemble(blocks) -> np.ndarray:
    return np.concatenate([b.audio[b.lead:b.lead + b.size] for b in blocks])


@pytest.mark.parametrize("rate", [16000, 44100])
def test_blocks_reassemble_to_the_whole_file(tmp_path, rate):
    audio = (0.1 * np.random.default_rng(0).standard_normal(rate * 5)).astype(np.float32)
    stereo = np.stack([audio, -0.5 * audio], axis=1)
    path = tmp_path / "x.flac"
    sf.write(path, stereo, rate)
    whole = load_audio(path)
    blocks = list(read_blocks(path, 12000, lead=320, tail=400))
    assert [b.last for b in blocks] == [False] * (len(blocks) - 1) + [True]
    core = reassemble(blocks)
    assert len(core) == len(whole)
    assert np.abs(core - whole).max() < 1e-6
    for b in blocks:
        assert b.start == blocks.index(b) * 12000
        assert b.lead == min(320, b.start)
        assert np.array_equal(b.audio, core[b.start - b.lead:b.start + b.size + b.tail])
        assert b.tail == (400 if not b.last else 0) or b.start + b.size + b.tail == len(core)


def test_formats_libsndfile_cannot_read_come_through_pyav(tmp_path, female_clip):
    path = encode_with_pyav(tmp_path / "x.m4a", female_clip, 16000, codec="aac", container_format="mp4")
    whole = load_audio(path)
    core = reassemble(read_blocks(path, 5000))
    assert len(core) == len(whole) and np.abs(core - whole).max() < 1e-5


def test_errors_name_the_input(tmp_path):
    empty = tmp_path / "empty.wav"
    empty.write_bytes(b"")
    short = tmp_path / "short.wav"
    sf.write(short, np.zeros(100, np.float32), 16000)
    for path, reason in [(empty, "empty file"), (short, "too short"), (tmp_path, "is a directory")]:
        with pytest.raises(AudioError, match=reason) as err:
            list(read_blocks(path, 16000))
        assert str(err.value).startswith(str(path))


def test_memory_is_bounded_by_the_block_size(tmp_path):
    path = tmp_path / "long.wav"
    with sf.SoundFile(path, "w", 16000, 1, "PCM_16") as f:
        for _ in range(60):
            f.write(np.full(16000, 0.1, np.float32))
    sizes = [len(b.audio) for b in read_blocks(path, 32000, lead=100, tail=100)]
    assert len(sizes) == 30 and max(sizes) == 32200
