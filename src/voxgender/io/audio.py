"""Decode any audio file or byte string to 16 kHz mono float32 in [-1, 1].

soundfile (libsndfile) reads WAV, FLAC, OGG/Vorbis, Opus and MP3; PyAV (FFmpeg) is the fallback
for M4A/AAC/MP4/WebM and anything libsndfile rejects. soxr resamples; channels are averaged.
Decoding is in bounded blocks whatever a header claims; the sample rate and channel count are
checked before any audio is read, and a maximum duration stops a decoded-size bomb early.
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

from voxgender.core.labels import SAMPLE_RATE
from voxgender.errors import AudioError, import_extra

MIN_DURATION_S = 0.1
SILENCE_PEAK = 1e-4
MIN_RATE, MAX_RATE = 8000, 384000  # the sample rates of any real recording (Hz)
MAX_CHANNELS = 1024
READ_SAMPLES = 1 << 18  # samples (frames x channels) decoded per soundfile read: memory stays bounded

AUDIO_EXTENSIONS = frozenset(
    {".wav", ".flac", ".ogg", ".oga", ".opus", ".mp3", ".m4a", ".aac", ".mp4", ".webm", ".mka", ".wma", ".aiff", ".aif"}
)

Source = Union[str, Path, bytes, BinaryIO]


def source_name(source: Source, name: str | None = None) -> str:
    """What errors and results call an input: ``name`` if given, else its path, else ``<bytes>``."""
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


def _check_header(rate: int, channels: int) -> None:
    """Refuse a sample rate or channel count outside what any recording has, before decoding."""
    if not MIN_RATE <= rate <= MAX_RATE:
        raise AudioError(f"sample rate {rate} Hz is outside {MIN_RATE}-{MAX_RATE} Hz")
    if not 1 <= channels <= MAX_CHANNELS:
        raise AudioError(f"{channels} channels (at most {MAX_CHANNELS} are read)")


def channel_mean(frames: np.ndarray) -> np.ndarray:
    """The mean of the channels of a (samples, channels) block, as float32: a matrix-vector
    product, some 30x faster than ``mean(axis=1)`` reducing along a short last axis."""
    channels = frames.shape[1]
    if channels == 1:
        return frames[:, 0]
    return frames @ np.full(channels, 1.0 / channels, dtype=frames.dtype)


def _soundfile_chunks(f: sf.SoundFile) -> Iterator[tuple[np.ndarray, int]]:
    """(mono float32 samples, sample rate) per block of at most READ_SAMPLES samples, whatever the
    header claims: a read that returns fewer frames than asked for ends the file."""
    with f:
        _check_header(f.samplerate, f.channels)
        frames = max(1024, READ_SAMPLES // f.channels)
        while len(data := f.read(frames, dtype="float32", always_2d=True)):
            yield channel_mean(data), f.samplerate
            if len(data) < frames:  # the end (and no further read: each costs a seek, slow in Ogg)
                break


def _pyav_chunks(source: Source) -> Iterator[tuple[np.ndarray, int]]:
    """Decode with FFmpeg: (mono float32 samples, sample rate) per decoded frame."""
    av = import_extra("av", "formats", "audio that libsndfile cannot read (m4a, mp4, webm, ...)")

    with av.open(_open(source), mode="r") as container:
        if not container.streams.audio:
            raise AudioError("contains no audio stream")
        stream = container.streams.audio[0]
        _check_header(stream.codec_context.sample_rate or SAMPLE_RATE, stream.codec_context.channels or 1)
        # Packed float: one plane whatever the channel count (PyAV reads at most 8 planes and
        # crashes past them). Channels are averaged here, like the soundfile path (FFmpeg's own
        # mono downmix is (L + R) / sqrt(2), 3 dB louder).
        resampler = av.AudioResampler(format="flt")
        for frame in container.decode(stream):
            for out in resampler.resample(frame):
                yield _packed_mono(out), out.sample_rate
        for out in resampler.resample(None):
            yield _packed_mono(out), out.sample_rate


def _packed_mono(frame) -> np.ndarray:
    """The mean of the channels of a packed-float PyAV frame."""
    channels = len(frame.layout.channels)
    _check_header(frame.sample_rate, channels)
    return channel_mean(frame.to_ndarray().reshape(-1, channels))


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


def _undecodable(label: str, err: Exception) -> AudioError:
    # FFmpeg errors' str() ends with the path FFmpeg was given: report only the reason.
    reason = getattr(err, "strerror", None) or (str(err).splitlines()[0] if str(err) else "")
    reason = reason or type(err).__name__
    return AudioError(f"{label}: not a decodable audio file ({reason})")


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
    source: Source, name: str | None = None, min_duration_s: float = MIN_DURATION_S, check: bool = True,
    max_duration_s: float | None = None,
) -> np.ndarray:
    """Decode ``source`` (path, bytes or file object) to validated 16 kHz mono float32.

    ``name`` is how errors refer to the input (defaults to the path). With ``check=False`` the
    emptiness/silence/length checks are skipped (for example to read noise for augmentation).
    Input longer than ``max_duration_s`` is refused as soon as its decoding passes that length.
    """
    label = source_name(source, name)
    audio = np.concatenate([np.zeros(0, dtype=np.float32), *_decoded_chunks(source, label, max_duration_s)])
    if check:
        validate(audio, label, min_duration_s)
    return np.clip(audio, -1.0, 1.0, out=audio)


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

    @property
    def own(self) -> np.ndarray:
        """The core samples, without the context on either side."""
        return self.audio[self.lead:self.lead + self.size]


def _decoded_chunks(source: Source | np.ndarray, label: str, max_duration_s: float | None = None) -> Iterator[np.ndarray]:
    """16 kHz mono float32 pieces of ``source`` (soundfile, else PyAV), resampled as a stream.

    A numpy array is taken as 16 kHz mono audio already. Every failure, the decoder's own or
    running out of memory, and input past ``max_duration_s`` raise AudioError naming ``label``.
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
    decoded_s = 0.0
    try:
        for mono, rate in chunks:
            decoded_s += len(mono) / rate
            if max_duration_s is not None and decoded_s > max_duration_s:
                raise AudioError(f"longer than the {max_duration_s:g} s allowed")
            if rate != SAMPLE_RATE and resampler is None:
                resampler = soxr.ResampleStream(rate, SAMPLE_RATE, 1, dtype="float32", quality="HQ")
            yield resampler.resample_chunk(mono) if resampler is not None else mono
        if resampler is not None:
            yield resampler.resample_chunk(np.zeros(0, dtype=np.float32), last=True)
    except AudioError as err:
        raise AudioError(f"{label}: {err}") from None
    except MemoryError:
        raise AudioError(f"{label}: too large to decode in the memory available") from None
    except Exception as err:  # libsndfile and FFmpeg raise many types mid-file
        raise _undecodable(label, err) from None


def read_blocks(
    source: Source | np.ndarray, block_samples: int, lead: int = 0, tail: int = 0, name: str | None = None,
    min_duration_s: float = MIN_DURATION_S, max_duration_s: float | None = None,
) -> Iterator[AudioBlock]:
    """Decode ``source`` block by block with memory bounded by the block size, whatever its length.

    Each block holds ``block_samples`` new samples (the last one fewer) with up to ``lead``
    samples before and ``tail`` after as context. Raises AudioError (naming the input) for input
    that cannot be decoded, holds NaN/inf, or is shorter than ``min_duration_s``; silence is kept.
    """
    label = source_name(source, name)
    pieces: list[np.ndarray] = []
    pending = 0  # samples in pieces
    buffer = np.zeros(0, dtype=np.float32)
    buffer_start = 0  # file position of buffer[0]
    start = 0  # file position of the next block's first core sample

    def block(size: int, last: bool) -> AudioBlock:
        first = max(0, start - lead)
        return AudioBlock(start, size, start - first, buffer[first - buffer_start:start + size + tail - buffer_start], last)

    for piece in _decoded_chunks(source, label, max_duration_s):
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
