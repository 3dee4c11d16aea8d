"""Training augmentation: each transform keeps shape and level where it should, and changes the sound."""

import torch

from voxgender.augment import AugmentConfig, augment_batch, mask_bands, random_eq


def _spectrum_db(x: torch.Tensor) -> torch.Tensor:
    return 10 * torch.log10(torch.fft.rfft(x).abs().pow(2) + 1e-12)


def test_random_eq_colours_the_spectrum_and_keeps_the_level():
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(8, 16000, generator=gen) * 0.1
    y = random_eq(x, gen, depth_db=6.0)
    assert y.shape == x.shape and torch.isfinite(y).all()
    torch.testing.assert_close(y.pow(2).mean(dim=1), x.pow(2).mean(dim=1), rtol=1e-3, atol=0)
    change = (_spectrum_db(y) - _spectrum_db(x))[:, :8000].reshape(8, -1, 100).mean(dim=2)  # smoothed over 100 bins
    assert change.std(dim=1).min() > 1.0  # a coloured channel, not a plain gain
    assert change.abs().max() < 30.0


def test_augment_batch_is_identity_at_strength_zero_and_random_otherwise():
    gen = torch.Generator().manual_seed(1)
    x = torch.randn(16, 8000, generator=gen) * 0.1
    assert torch.equal(augment_batch(x, AugmentConfig(strength=0.0), gen), x)
    y = augment_batch(x, AugmentConfig(), gen)
    assert y.shape == x.shape and y.abs().max() <= 1.0
    changed = (y - x).abs().amax(dim=1) > 1e-6
    assert 0 < int(changed.sum()) <= 16


def test_backgrounds_are_added_at_the_requested_snr():
    from voxgender.augment import add_babble, add_music, tones

    gen = torch.Generator().manual_seed(2)
    x = torch.randn(6, 16000, generator=gen) * 0.1
    music = tones(6, 16000, gen)
    assert music.shape == x.shape and (music.pow(2).mean(dim=1) > 0).all()
    for add in (add_music, add_babble):
        y = add(x, gen, (10.0, 10.0))
        snr = 10 * torch.log10(x.pow(2).mean(dim=1) / (y - x).pow(2).mean(dim=1))
        torch.testing.assert_close(snr, torch.full((6,), 10.0), atol=0.05, rtol=0)
    assert torch.equal(add_babble(x[:1], gen, (10.0, 10.0)), x[:1])  # nobody else to talk in the background


def test_band_masks_fill_runs_of_adjacent_dimensions_with_the_mean_on_every_frame():
    gen = torch.Generator().manual_seed(2)
    feats = torch.randn(64, 30, 48, generator=gen)
    fill = torch.full((48,), 7.0)
    out = mask_bands(feats, fill, gen, masks=1, max_width=10)
    masked = (out == 7.0).all(dim=1)  # (rows, dims): a dimension masked on every frame of the row
    assert torch.equal(out[~(out == 7.0)], feats[~(out == 7.0)])  # everything else untouched
    widths = masked.sum(dim=1)
    assert widths.max() <= 10 and widths.float().mean() > 3  # uniform 0-10 wide
    for row in masked:
        where = torch.nonzero(row).flatten()
        assert len(where) == 0 or where[-1] - where[0] + 1 == len(where)  # one contiguous run
    assert torch.equal(mask_bands(feats, fill, gen, masks=0, max_width=10), feats)


def test_speed_perturbation_scales_pitch_and_keeps_the_crop_length():
    import numpy as np

    from voxgender.augment import speed_factors
    from voxgender.train import Clip, crop_batch

    rng = np.random.default_rng(0)
    assert np.all(speed_factors(8, AugmentConfig(), rng) == 1.0)  # off by default
    factors = speed_factors(1000, AugmentConfig(p_speed=0.5), rng)
    assert 0.4 < np.mean(factors != 1.0) < 0.6 and factors.min() >= 0.92 and factors.max() <= 1.08
    tone = np.sin(2 * np.pi * 200 * np.arange(32000) / 16000).astype(np.float32)
    clips = [Clip(audio=tone, target=0, speaker="s", corpus="c")]
    wave, lengths = crop_batch(clips, [0, 0], 16000, rng, np.array([1.0, 1.08]))
    assert wave.shape == (2, 16000) and lengths.tolist() == [16000, 16000]
    peaks = torch.fft.rfft(wave).abs().argmax(dim=1)  # 1 Hz bins
    assert peaks.tolist() == [200, 216]


def test_settings_by_name_parse_numbers_and_ranges_and_name_what_is_wrong():
    import pytest

    cfg = AugmentConfig().with_settings(["p_noise=0.8", "snr_db=-5,20", "band_masks=2"])
    assert (cfg.p_noise, cfg.snr_db, cfg.band_masks) == (0.8, (-5.0, 20.0), 2)
    for bad in ("p_nois=0.8", "p_noise", "p_noise=lots", "snr_db=5", "band_masks=1.5"):
        with pytest.raises(ValueError, match=bad.split("=")[0]):
            AugmentConfig().with_settings([bad])
