"""Raw PCM bytes (mono, little-endian) to float32 samples, for pipes and sockets."""

from __future__ import annotations

import numpy as np

from voxgender.errors import AudioError

ENCODINGS = {"s16le": np.dtype("<i2"), "f32le": np.dtype("<f4")}


def decode_pcm(data: bytes, encoding: str, name: str = "<pcm>") -> np.ndarray:
    """Whole samples of ``encoding`` (s16le or f32le) as float32 in [-1, 1]; AudioError otherwise."""
    dtype = ENCODINGS.get(encoding)
    if dtype is None:
        raise AudioError(f"{name}: unknown encoding {encoding!r} (use {' or '.join(ENCODINGS)})")
    if len(data) % dtype.itemsize:
        raise AudioError(f"{name}: {len(data)} bytes is not a whole number of {encoding} samples "
                         f"({dtype.itemsize} bytes each)")
    samples = np.frombuffer(data, dtype=dtype)
    if dtype.kind == "i":
        return np.multiply(samples, np.float32(1 / 32768), dtype=np.float32)  # one pass; exact (a power of two)
    if not np.isfinite(samples).all():
        raise AudioError(f"{name}: contains NaN or infinite samples")
    return np.clip(samples, -1.0, 1.0).astype(np.float32)


class PcmReader:
    """Decodes a byte stream that may split samples across reads (a pipe): the odd bytes wait for the next read."""

    def __init__(self, encoding: str, name: str = "<pcm>") -> None:
        decode_pcm(b"", encoding, name)  # validates the encoding
        self.encoding, self.name = encoding, name
        self._width = ENCODINGS[encoding].itemsize
        self._carry = b""

    def feed(self, data: bytes) -> np.ndarray:
        data = self._carry + data
        whole = len(data) - len(data) % self._width
        self._carry = data[whole:]
        return decode_pcm(data[:whole], self.encoding, self.name)

    @property
    def leftover(self) -> int:
        """Bytes of an incomplete last sample."""
        return len(self._carry)
