"""Decode any audio file or byte string to 16 kHz mono float32 in [-1, 1].

soundfile (libsndfile) reads WAV, FLAC, OGG/Vorbis, Opus and MP3; PyAV (FFmpeg) is the fallback
for M4A/AAC/MP4/WebM and anything libsndfile rejects. soxr resamples; channels are averaged.
"""

from __future__ import annotations

import io
import math
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Iterator, Union

import numpy as np
import soundfile as sf
import soxr

from .errors import AudioError

SAMPLE_RATE = 16000
MIN_DURATION_S = 0.1
SILENCE_PEAK = 1e-4

AUDIO_EXTENSIONS = frozenset(
    {".wav", ".flac", ".ogg", ".oga", ".opus", ".mp3", ".m4a", ".aac", ".mp4", ".webm", ".mka", ".wma", ".aiff", ".aif"}
)

Source = Union[str, Path, bytes, BinaryIO]


def _name(source: Source, name: str | None) -> str:
    if name is not None:
        return name
    if isinstance(source, (str, Path)):
        return str(source)
    return "<bytes>"


def _open(source: Source) -> Union[str, BinaryIO]:
    if isinstance(source, (bytes, bytearray, memoryview)):
        return io.BytesIO(bytes(source))
    if isinstance(source, Path):
        return str(source)
    return source


def _decode_soundfile(source: Source) -> tuple[np.ndarray, int]:
    data, rate = sf.read(_open(source), dtype="float32", always_2d=True)
    return data, rate


def _pyav_chunks(source: Source) -> Iterator[tuple[np.ndarray, int]]:
    """Decode with FFmpeg: (mono float32 samples, sample rate) per decoded frame."""
    import av  # imported lazily: only the formats libsndfile cannot read need FFmpeg

    with av.open(_open(source), mode="r") as container:
        if not container.streams.audio:
            raise AudioError("contains no audio stream")
        stream = container.streams.audio[0]
        # Planar float at the stream's own layout and rate; channels are averaged here, like the
        # soundfile path (FFmpeg's own mono downmix is (L + R) / sqrt(2), 3 dB louder).
        resampler = av.AudioResampler(format="fltp")
        for frame in container.decode(stream):
            for out in resampler.resample(frame):
                yield out.to_ndarray().mean(axis=0), out.sample_rate
        for out in resampler.resample(None):
            yield out.to_ndarray().mean(axis=0), out.sample_rate


def _decode_pyav(source: Source) -> tuple[np.ndarray, int]:
    chunks = list(_pyav_chunks(source))
    if not chunks:
        return np.zeros((0, 1), dtype=np.float32), SAMPLE_RATE
    return np.concatenate([c for c, _ in chunks]).astype(np.float32)[:, None], chunks[-1][1]


def _check_source(source: Source, label: str) -> None:
    """Raise AudioError for a missing path, a directory, an empty file or empty bytes."""
    if isinstance(source, (str, Path)):
        path = Path(source)
        if not path.exists():
            raise AudioError(f"{label}: no such file")
        if path.is_dir():
            raise AudioError(f"{label}: is a directory, not an audio file")
        if path.stat().st_size == 0:
            raise AudioError(f"{label}: empty file")
    elif isinstance(source, (bytes, bytearray, memoryview)) and len(source) == 0:
        raise AudioError(f"{label}: empty input")


def _decode(source: Source, label: str) -> tuple[np.ndarray, int]:
    _check_source(source, label)
    try:
        return _decode_soundfile(source)
    except (sf.LibsndfileError, RuntimeError, TypeError, ValueError):
        pass
    if hasattr(source, "seek"):
        source.seek(0)
    try:
        return _decode_pyav(source)
    except AudioError as err:
        raise AudioError(f"{label}: {err}") from None
    except Exception as err:  # FFmpeg raises many types; all mean "not decodable audio"
        raise _undecodable(label, err) from None


def _undecodable(label: str, err: Exception) -> AudioError:
    # FFmpeg errors' str() ends with the path FFmpeg was given: report only the reason.
    reason = getattr(err, "strerror", None) or (str(err).splitlines()[0] if str(err) else "")
    reason = reason or type(err).__name__
    return AudioError(f"{label}: not a decodable audio file ({reason})")


def to_mono_16k(data: np.ndarray, rate: int) -> np.ndarray:
    """Average channels of a (frames, channels) or (frames,) array and resample to 16 kHz."""
    if data.ndim == 2:
        data = data[:, 0] if data.shape[1] == 1 else data.mean(axis=1)
    mono = np.ascontiguousarray(data, dtype=np.float32)
    if rate != SAMPLE_RATE and mono.size:
        mono = soxr.resample(mono, rate, SAMPLE_RATE, quality="HQ").astype(np.float32)
    return mono


def validate(audio: np.ndarray, label: str, min_duration_s: float = MIN_DURATION_S) -> np.ndarray:
    """Raise AudioError if 16 kHz mono ``audio`` is empty, non-finite, too short or silent."""
    if audio.size == 0:
        raise AudioError(f"{label}: contains no audio samples (empty or truncated)")
    low, high = float(audio.min()), float(audio.max())  # NaN or an infinity shows in one of them
    if not (math.isfinite(low) and math.isfinite(high)):
        raise AudioError(f"{label}: contains NaN or infinite samples")
    duration = audio.size / SAMPLE_RATE
    if duration < min_duration_s:
        raise AudioError(f"{label}: too short ({duration:.3f} s, at least {min_duration_s:g} s needed)")
    if max(-low, high) < SILENCE_PEAK:
        raise AudioError(f"{label}: silent (no signal above {SILENCE_PEAK:g} full scale)")
    return audio


def load_audio(
    source: Source, name: str | None = None, min_duration_s: float = MIN_DURATION_S, check: bool = True
) -> np.ndarray:
    """Decode ``source`` (path, bytes or file object) to validated 16 kHz mono float32.

    ``name`` is how errors refer to the input (defaults to the path). With ``check=False`` the
    emptiness/silence/length checks are skipped (for example to read noise for augmentation).
    """
    label = _name(source, name)
    data, rate = _decode(source, label)
    audio = to_mono_16k(data, rate)
    if check:
        validate(audio, label, min_duration_s)
    return np.clip(audio, -1.0, 1.0, out=audio)  # the decoder's own array: no copy needed


def frame_levels_db(audio: np.ndarray, frame: int) -> np.ndarray:
    """Mean power in dB of each whole ``frame``-sample frame of ``audio``."""
    n = len(audio) // frame
    power = (audio[: n * frame].reshape(n, frame).astype(np.float64) ** 2).mean(axis=1)
    return 10 * np.log10(power + 1e-12)


def audio_duration(path: str | Path) -> float:
    """Duration in seconds from the header when libsndfile can read it, else by decoding."""
    try:
        info = sf.info(str(path))
        return info.frames / info.samplerate
    except (sf.LibsndfileError, RuntimeError):
        return load_audio(path, check=False).size / SAMPLE_RATE


def find_audio_files(root: str | Path) -> list[Path]:
    """All audio files below ``root`` (by extension), sorted."""
    return sorted(p for p in Path(root).rglob("*") if p.is_file() and p.suffix.lower() in AUDIO_EXTENSIONS)


# -- block reading of long files -----------------------------------------------------------------
READ_FRAMES = 1 << 16  # frames decoded per soundfile read


@dataclass(frozen=True)
class AudioBlock:
    """A block of 16 kHz mono float32 audio: core samples ``[start, start + size)`` of the whole
    file, with up to ``lead`` samples before and ``tail`` samples after them for context."""

    start: int
    size: int
    lead: int
    audio: np.ndarray
    last: bool

    @property
    def tail(self) -> int:
        return len(self.audio) - self.lead - self.size


def _soundfile_chunks(f: sf.SoundFile) -> Iterator[tuple[np.ndarray, int]]:
    with f:
        for data in f.blocks(READ_FRAMES, dtype="float32", always_2d=True):
            yield data.mean(axis=1), f.samplerate


def _decoded_chunks(source: Source | np.ndarray, label: str) -> Iterator[np.ndarray]:
    """16 kHz mono float32 pieces of ``source`` (soundfile, else PyAV), resampled as a stream.

    A numpy array is taken as 16 kHz mono audio already.
    """
    if isinstance(source, np.ndarray):
        yield np.asarray(source, dtype=np.float32).reshape(-1)
        return
    _check_source(source, label)
    try:
        chunks = _soundfile_chunks(sf.SoundFile(_open(source)))
    except (sf.LibsndfileError, RuntimeError, TypeError, ValueError):
        if hasattr(source, "seek"):
            source.seek(0)
        chunks = _pyav_chunks(source)
    resampler: soxr.ResampleStream | None = None
    try:
        for mono, rate in chunks:
            if rate != SAMPLE_RATE and resampler is None:
                resampler = soxr.ResampleStream(rate, SAMPLE_RATE, 1, dtype="float32", quality="HQ")
            yield resampler.resample_chunk(mono) if resampler is not None else mono
        if resampler is not None:
            yield resampler.resample_chunk(np.zeros(0, dtype=np.float32), last=True)
    except AudioError as err:
        raise AudioError(f"{label}: {err}") from None
    except Exception as err:  # libsndfile and FFmpeg raise many types mid-file
        raise _undecodable(label, err) from None


def read_blocks(
    source: Source | np.ndarray, block_samples: int, lead: int = 0, tail: int = 0, name: str | None = None,
    min_duration_s: float = MIN_DURATION_S,
) -> Iterator[AudioBlock]:
    """Decode ``source`` block by block with memory bounded by the block size, whatever its length.

    Each block holds ``block_samples`` new samples (the last one fewer) with up to ``lead``
    samples before and ``tail`` after as context. Raises AudioError (naming the input) for input
    that cannot be decoded, holds NaN/inf, or is shorter than ``min_duration_s``; silence is kept.
    """
    label = _name(source, name)
    pieces: list[np.ndarray] = []
    pending = 0  # samples in pieces
    buffer = np.zeros(0, dtype=np.float32)
    buffer_start = 0  # file position of buffer[0]
    start = 0  # file position of the next block's first core sample

    def block(size: int, last: bool) -> AudioBlock:
        first = max(0, start - lead)
        return AudioBlock(start, size, start - first, buffer[first - buffer_start:start + size + tail - buffer_start], last)

    for piece in _decoded_chunks(source, label):
        if not np.all(np.isfinite(piece)):
            raise AudioError(f"{label}: contains NaN or infinite samples")
        pieces.append(np.clip(piece, -1.0, 1.0))
        pending += len(piece)
        if buffer_start + len(buffer) + pending <= start + block_samples + tail:
            continue  # one sample past the block's tail shows that it is not the last block
        buffer = np.concatenate([buffer, *pieces])
        pieces, pending = [], 0
        while buffer_start + len(buffer) > start + block_samples + tail:
            yield block(block_samples, False)
            start += block_samples
            drop = max(0, start - lead) - buffer_start
            buffer, buffer_start = buffer[drop:], buffer_start + drop
    buffer = np.concatenate([buffer, *pieces])
    total = buffer_start + len(buffer)
    if total == 0:
        raise AudioError(f"{label}: contains no audio samples (empty or truncated)")
    if total < min_duration_s * SAMPLE_RATE:
        raise AudioError(f"{label}: too short ({total / SAMPLE_RATE:.3f} s, at least {min_duration_s:g} s needed)")
    yield block(total - start, True)
