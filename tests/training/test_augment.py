"""Training augmentation: each transform keeps shape and level where it should, and changes the sound."""

import pytest
import torch

from voxgender.training.augment import AugmentConfig, augment_batch, mask_bands, random_eq


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
    from voxgender.training.augment import add_babble, add_music, tones

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

    from voxgender.training.augment import speed_factors
    from voxgender.training.trainer import Clip, crop_batch

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


def _cepstra(x: torch.Tensor) -> torch.Tensor:
    frames = x.unfold(0, 1024, 256) * torch.hann_window(1024)
    return torch.fft.irfft(torch.log(torch.fft.rfft(frames).abs().clamp_min(1e-5)), n=1024)


def _median_f0_hz(x: torch.Tensor) -> float:
    """Median pitch of the loud frames: the cepstral peak between 2 and 16 ms."""
    cepstra, energy = _cepstra(x), x.unfold(0, 1024, 256).pow(2).sum(dim=1)
    peaks = cepstra[energy > 0.1 * energy.max(), 32:267].argmax(dim=1) + 32
    return float(16000 / peaks.float().median())


def _envelope_db(x: torch.Tensor) -> torch.Tensor:
    """Long-term spectral envelope below 5 kHz: the mean cepstrally smoothed log spectrum."""
    cepstra = _cepstra(x)
    cepstra[:, 24:1001] = 0.0
    return torch.fft.rfft(cepstra).real.mean(dim=0)[:320] * 20 / 2.302585


def test_pitch_toward_the_other_gender_lowers_women_and_raises_men_with_the_same_draws():
    import numpy as np

    from voxgender.training.augment import pitch_factors

    female = np.arange(1000) % 3 == 0
    both = pitch_factors(1000, AugmentConfig(p_pitch=0.5), np.random.default_rng(7), female)
    toward = pitch_factors(1000, AugmentConfig(p_pitch=0.5, pitch_direction="toward_other"), np.random.default_rng(7), female)
    assert np.all(toward[female] <= 1.0) and np.all(toward[~female] >= 1.0)
    assert np.allclose(np.abs(np.log(toward)), np.abs(np.log(both)))  # the same draws, only the direction set
    assert np.mean(toward[female] < 1.0) > 0.4 and np.mean(toward[~female] > 1.0) > 0.4
    with pytest.raises(ValueError, match="pitch_direction 'up'"):
        AugmentConfig(pitch_direction="up")


def test_women_can_be_pitch_moved_at_a_rate_of_their_own_with_the_same_draws():
    import numpy as np

    from voxgender.training.augment import pitch_factors

    female = np.arange(4000) % 2 == 0
    same = AugmentConfig(p_pitch=0.5, pitch_direction="toward_other")
    fewer = AugmentConfig(p_pitch=0.5, pitch_direction="toward_other", pitch_rate_women=0.4)
    base = pitch_factors(4000, same, np.random.default_rng(3), female)
    rated = pitch_factors(4000, fewer, np.random.default_rng(3), female)
    assert np.array_equal(rated[~female], base[~female])  # men's crops untouched by the women's rate
    assert 0.17 < np.mean(rated[female] != 1.0) < 0.23 and 0.47 < np.mean(base[female] != 1.0) < 0.53
    assert np.all((rated[female] == 1.0) | (rated[female] == base[female]))  # a subset of the same draws


def test_pitch_perturbation_moves_the_pitch_and_keeps_the_formants():
    import numpy as np
    import soxr

    from voxgender.synth import synth_clip
    from voxgender.training.augment import pitch_factors, restore_formants, shift_pitch

    rng = np.random.default_rng(0)
    assert np.all(pitch_factors(8, AugmentConfig(), rng, np.ones(8, bool)) == 1.0)  # off by default
    factors = pitch_factors(1000, AugmentConfig(p_pitch=0.5), rng, np.arange(1000) % 2 == 0)
    assert 0.4 < np.mean(factors != 1.0) < 0.6 and factors.min() >= 0.75 and factors.max() <= 1.5
    for gender, seed, factor in (("male", 1, 1.4), ("female", 2, 0.8)):
        voice = torch.from_numpy(synth_clip(gender, 4.0, seed))
        shifted = shift_pitch(voice[None], factor)[0]
        played = torch.from_numpy(soxr.resample(voice.numpy(), 16000 * factor, 16000, quality="MQ"))  # formants moved too
        assert torch.equal(restore_formants(played[None], torch.ones(1))[0], played)  # factor 1: untouched
        assert shifted.shape == played.shape
        assert abs(_median_f0_hz(shifted) / _median_f0_hz(voice) - factor) < 0.05 * factor
        moved = (_envelope_db(played) - _envelope_db(voice)).pow(2).mean().sqrt()
        kept = (_envelope_db(shifted) - _envelope_db(voice)).pow(2).mean().sqrt()
        assert moved > 3.0 and kept < moved / 3  # dB: playback moves the formants, restoring puts them back
        assert abs(shifted.pow(2).mean().sqrt() / played.pow(2).mean().sqrt() - 1) < 1e-3


def test_settings_by_name_parse_numbers_and_ranges_and_name_what_is_wrong():
    import pytest

    cfg = AugmentConfig().with_settings(["p_noise=0.8", "snr_db=-5,20", "band_masks=2"])
    assert (cfg.p_noise, cfg.snr_db, cfg.band_masks) == (0.8, (-5.0, 20.0), 2)
    for bad in ("p_nois=0.8", "p_noise", "p_noise=lots", "snr_db=5", "band_masks=1.5"):
        with pytest.raises(ValueError, match=bad.split("=")[0]):
            AugmentConfig().with_settings([bad])


def test_onset_crops_start_where_the_leading_silence_ends():
    import numpy as np

    from voxgender.synth import synth_clip
    from voxgender.training.augment import onset_crops
    from voxgender.training.trainer import Clip, crop_batch, speech_onset

    rng = np.random.default_rng(0)
    assert onset_crops(8, AugmentConfig(), rng) is None  # off by default, and no draws
    chosen = onset_crops(1000, AugmentConfig(p_onset=0.3), rng)
    assert 0.25 < chosen.mean() < 0.35
    voice = synth_clip("male", 2.0, seed=1)
    audio = np.concatenate([1e-4 * rng.standard_normal(12345).astype(np.float32), voice])
    onset = speech_onset(audio)
    assert 12000 <= onset <= 12345 + 800  # within the 10 ms frame of the silence's end, or the voice's soft start
    clip = Clip(audio=audio, target=1, speaker="s", corpus="c")
    wave, lengths = crop_batch([clip], [0, 0], 8000, rng, at_onset=np.array([True, False]))
    assert np.array_equal(wave[0].numpy(), audio[onset:onset + 8000]) and lengths.tolist() == [8000, 8000]
    assert speech_onset(np.zeros(5, np.float32)) == 0


def test_formant_perturbation_moves_the_formants_and_keeps_the_pitch():
    import numpy as np
    import soxr

    from voxgender.synth import synth_clip
    from voxgender.training.augment import formant_factors, restore_formants

    rng = np.random.default_rng(0)
    assert np.all(formant_factors(8, AugmentConfig(), rng) == 1.0)  # off by default
    factors = formant_factors(1000, AugmentConfig(p_formant=0.5), rng)
    assert 0.4 < np.mean(factors != 1.0) < 0.6 and factors.min() >= 0.9 and factors.max() <= 1.1
    for gender, seed, factor in (("male", 1, 1.15), ("female", 2, 0.87)):
        voice = torch.from_numpy(synth_clip(gender, 4.0, seed))
        moved = restore_formants(voice[None], torch.tensor([1 / factor]))[0]
        played = torch.from_numpy(soxr.resample(voice.numpy(), 16000 * factor, 16000, quality="MQ"))  # pitch moved too
        assert moved.shape == voice.shape
        assert abs(_median_f0_hz(moved) / _median_f0_hz(voice) - 1) < 0.05  # playback would move it by 13-15%
        apart = (_envelope_db(played) - _envelope_db(voice)).pow(2).mean().sqrt()
        along = (_envelope_db(moved) - _envelope_db(played)).pow(2).mean().sqrt()
        assert apart > 3.0 and along < apart / 3  # dB: the envelope went where playback at the factor puts it


def test_raised_effort_lifts_the_highs_against_the_lows_and_keeps_the_level():
    from voxgender.training.augment import raise_effort

    gen = torch.Generator().manual_seed(0)
    x = torch.randn(4, 16000, generator=gen) * 0.1
    y = raise_effort(x, gen, (6.0, 6.0))
    spectrum_in, spectrum_out = torch.fft.rfft(x).abs() ** 2, torch.fft.rfft(y).abs() ** 2
    freqs = torch.fft.rfftfreq(16000, 1 / 16000)
    high, low = freqs > 4000, freqs < 800
    lift = 10 * torch.log10((spectrum_out[:, high].sum(1) / spectrum_in[:, high].sum(1)) /
                            (spectrum_out[:, low].sum(1) / spectrum_in[:, low].sum(1)))
    assert torch.allclose(lift, torch.full((4,), 6.0 * 0.78), atol=0.8)  # about 6 dB x log10(6)
    torch.testing.assert_close(y.pow(2).mean(1), x.pow(2).mean(1), rtol=1e-4, atol=1e-8)


def test_a_recipe_without_raised_effort_draws_what_it_drew_before():
    from voxgender.training.augment import AugmentConfig, augment_batch

    x = torch.randn(8, 8000, generator=torch.Generator().manual_seed(1)) * 0.1
    a = augment_batch(x, AugmentConfig(), torch.Generator().manual_seed(5))
    b = augment_batch(x, AugmentConfig(p_effort=0.0), torch.Generator().manual_seed(5))
    c = augment_batch(x, AugmentConfig(p_effort=1.0), torch.Generator().manual_seed(5))
    torch.testing.assert_close(a, b)
    assert not torch.allclose(a, c)
