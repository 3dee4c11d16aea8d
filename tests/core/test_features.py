"""Feature shapes, known values, streaming-friendly framing and train/inference parity."""

import numpy as np
import pytest
import torch

from voxgender.core.features import FeatureConfig, dct_matrix, deltas, extract, mel_filterbank, pitch_bin_hz
from voxgender.synth import synth_clip


def test_logmel_shape_and_frame_count():
    cfg = FeatureConfig(n_mels=40, win_ms=25.0, hop_ms=10.0)
    audio = np.random.default_rng(0).standard_normal(16000).astype(np.float32)
    feats = extract(audio, cfg)
    assert feats.shape == (cfg.num_frames(16000), 40)
    assert cfg.num_frames(16000) == 1 + (16000 - 400) // 160 == 98


def test_mfcc_with_deltas_shape():
    cfg = FeatureConfig(kind="mfcc", n_mfcc=13, deltas=True)
    feats = extract(np.random.default_rng(1).standard_normal(8000).astype(np.float32), cfg)
    assert cfg.dim == 39
    assert feats.shape == (cfg.num_frames(8000), 39)


def test_too_short_input_gives_zero_frames():
    cfg = FeatureConfig()
    assert extract(np.zeros(100, np.float32), cfg).shape == (0, cfg.n_mels)


def test_tone_energy_lands_in_the_right_mel_band():
    cfg = FeatureConfig()
    t = np.arange(16000) / 16000
    feats = extract(np.sin(2 * np.pi * 1000 * t).astype(np.float32), cfg)
    centres = np.argmax(mel_filterbank(cfg), axis=0) * cfg.sample_rate / cfg.n_fft
    assert abs(centres[int(feats.mean(0).argmax())] - 1000) < 120


def test_chunked_frames_equal_whole_signal_frames():
    """Frames are not centred, so feeding the signal in pieces gives identical frames."""
    cfg = FeatureConfig()
    audio = np.random.default_rng(2).standard_normal(24000).astype(np.float32)
    whole = extract(audio, cfg)
    split = cfg.num_frames(9000)
    tail = extract(audio[split * cfg.hop_length:], cfg)
    np.testing.assert_allclose(np.concatenate([extract(audio[:9000], cfg), tail]), whole, atol=1e-5)


def test_long_inputs_are_computed_in_blocks_with_the_same_frames():
    """Inputs longer than SPECTRUM_BLOCK frames take their spectra block by block (fast and bounded in memory)."""
    from voxgender.core.features import SPECTRUM_BLOCK

    cfg = FeatureConfig()
    samples = (3 * SPECTRUM_BLOCK + 50) * cfg.hop_length + cfg.win_length
    audio = np.random.default_rng(4).standard_normal(samples).astype(np.float32)
    whole = extract(audio, cfg)
    assert whole.shape[0] == cfg.num_frames(samples) > 3 * SPECTRUM_BLOCK
    second = extract(audio[SPECTRUM_BLOCK * cfg.hop_length:], cfg)  # starts at a block boundary
    np.testing.assert_allclose(whole[SPECTRUM_BLOCK:], second, atol=1e-5)
    np.testing.assert_allclose(whole[:100], extract(audio[:100 * cfg.hop_length + cfg.win_length], cfg)[:100],
                               atol=1e-5)


@pytest.mark.parametrize("cfg", [FeatureConfig(kind="mfcc", deltas=True), FeatureConfig(), FeatureConfig(kind="mfcc", pitch_bins=16)],
                         ids=["mfcc+deltas", "logmel", "mfcc+pitch"])
def test_training_features_in_torch_equal_the_numpy_features_of_inference(cfg):
    """Training (torch, batched waveforms) and inference (NumPy, one waveform) compute the same features."""
    from voxgender.training.features import FeatureExtractor

    rng = np.random.default_rng(3)
    batch = np.stack([synth_clip("female", 0.75, 1), synth_clip("male", 0.75, 2), 0.1 * rng.standard_normal(12000)]).astype(np.float32)
    together = FeatureExtractor(cfg)(torch.from_numpy(batch))
    for row in range(3):
        np.testing.assert_allclose(together[row].numpy(), extract(batch[row], cfg), atol=2e-4, rtol=1e-4)


def test_dct_is_orthonormal():
    basis = dct_matrix(40, 40)
    np.testing.assert_allclose(basis.T @ basis, np.eye(40), atol=1e-5)


def test_deltas_of_a_ramp_are_its_slope():
    ramp = np.arange(20, dtype=np.float32)[:, None] * 0.5
    d = deltas(ramp)
    np.testing.assert_allclose(d[2:-2, 0], 0.5, atol=1e-6)


def test_config_round_trip_and_validation():
    cfg = FeatureConfig(kind="mfcc", n_mels=32, n_mfcc=16, deltas=True)
    assert FeatureConfig.from_dict(cfg.to_dict()) == cfg
    with pytest.raises(ValueError):
        FeatureConfig(kind="spectrogram")
    with pytest.raises(ValueError):
        FeatureConfig(kind="mfcc", n_mels=10, n_mfcc=20)


def _harmonic_tone(f0: float, seconds: float = 1.0) -> np.ndarray:
    t = np.arange(int(16000 * seconds)) / 16000
    return (0.1 * sum(np.sin(2 * np.pi * k * f0 * t) / k for k in range(1, int(7000 / f0)))).astype(np.float32)


@pytest.mark.parametrize("f0", [90.0, 150.0, 210.0, 300.0])
def test_pitch_bins_peak_at_the_fundamental(f0):
    cfg = FeatureConfig(pitch_bins=32)
    feats = extract(_harmonic_tone(f0), cfg)
    assert feats.shape[1] == cfg.base_dim == 48 + 32
    peak_hz = pitch_bin_hz(cfg)[feats[:, 48:].argmax(axis=1)]
    assert np.median(peak_hz) == pytest.approx(f0, rel=0.05)


def test_pitch_bins_separate_synthetic_female_and_male_voices():
    cfg = FeatureConfig(pitch_bins=24)
    centres = pitch_bin_hz(cfg)

    def median_peak_hz(gender: str, seed: int) -> float:
        feats = extract(synth_clip(gender, 2.0, seed), cfg)
        loud = feats[:, :48].mean(axis=1) > np.median(feats[:, :48].mean(axis=1))  # voiced parts, roughly
        return float(np.median(centres[feats[loud, 48:].argmax(axis=1)]))

    for seed in range(3):
        assert median_peak_hz("female", seed) > 165 > median_peak_hz("male", seed)


def test_pitch_bins_are_framed_like_the_spectrum():
    """Pitch bands too come from each frame alone: chunks give the frames of the whole."""
    cfg = FeatureConfig(kind="mfcc", pitch_bins=16, deltas=True)
    audio = _harmonic_tone(120.0, 1.5) + 0.01 * np.random.default_rng(5).standard_normal(24000).astype(np.float32)
    split = cfg.num_frames(9000)
    pieces = np.concatenate([extract(audio[:9000], cfg)[:, :cfg.base_dim], extract(audio[split * cfg.hop_length:], cfg)[:, :cfg.base_dim]])
    np.testing.assert_allclose(pieces, extract(audio, cfg)[:, :cfg.base_dim], atol=1e-4)
    assert cfg.dim == 3 * (20 + 16)


def test_pitch_range_must_fit_the_window():
    with pytest.raises(ValueError, match="pitch range"):
        FeatureConfig(pitch_bins=8, pitch_fmin=30.0)  # two periods of 30 Hz exceed the 40 ms window
    with pytest.raises(ValueError, match="pitch range"):
        FeatureConfig(pitch_bins=8, pitch_fmin=300.0, pitch_fmax=200.0)
