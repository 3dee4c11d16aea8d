"""The speaker encoder's frames and windows, and its probe's fusion with the network."""

import numpy as np
import pytest
import torch

from voxgender.core.calibration import Calibration, logit, sigmoid
from voxgender.core.speaker_encoder import (
    EMBEDDING_DIM,
    HOP,
    N_FFT,
    N_MELS,
    WINDOW_FRAMES,
    EncoderProbe,
    loudest_windows,
    power_mel,
    slaney_mel_filters,
    unit_mean,
    window_track,
)


def test_power_mel_is_torchs_centred_power_stft_through_the_slaney_filters(female_clip):
    spectrum = torch.stft(torch.from_numpy(female_clip.copy()), N_FFT, HOP, N_FFT, torch.hann_window(N_FFT), center=True,
                          pad_mode="constant", return_complex=True)
    expected = (torch.from_numpy(slaney_mel_filters()) @ spectrum.abs() ** 2).T.numpy()
    ours = power_mel(female_clip)
    assert ours.shape == expected.shape == (len(female_clip) // HOP + 1, N_MELS)
    assert np.abs(ours - expected).max() <= 1e-4 * expected.max()


def test_power_mel_raises_quiet_audio_to_the_target_level_and_leaves_loud_audio_alone(female_clip):
    loud = female_clip * 1.0
    assert np.allclose(power_mel(loud * 0.01), power_mel(loud * 0.02), rtol=1e-3, atol=1e-6)  # both raised alike
    assert np.allclose(power_mel(loud * 2) / 4, power_mel(loud), rtol=1e-3, atol=1e-6)  # loud: only scaled


def test_a_recording_shorter_than_a_window_is_padded_to_one_window():
    windows = loudest_windows(np.ones((50, N_MELS), np.float32))
    assert windows.shape == (1, WINDOW_FRAMES, N_MELS)
    assert windows[0, :50].min() == 1 and windows[0, 50:].max() == 0


def test_every_window_is_heard_when_few_and_the_last_one_ends_with_the_recording():
    mel = np.arange(300, dtype=np.float32)[:, None].repeat(N_MELS, axis=1)
    windows = loudest_windows(mel, max_windows=16)
    assert [int(w[0, 0]) for w in windows] == [0, 80, 140]


def test_a_long_recording_is_heard_through_the_loudest_window_of_each_stretch():
    mel = np.full((8000, N_MELS), 1e-3, np.float32)
    mel[5000:5200] = 1.0  # one loud stretch in the last half
    windows = loudest_windows(mel, max_windows=2)
    assert windows.shape == (2, WINDOW_FRAMES, N_MELS)
    assert windows[1].mean() > 0.5 and windows[0].mean() < 0.01


def test_a_track_has_a_window_every_step_each_raised_to_the_target_level_on_its_own(female_clip):
    clip = female_clip[:WINDOW_FRAMES * HOP] * 1.0
    wave = np.concatenate([clip * 0.001, clip * 0.002])  # two quiet windows, one twice as loud as the other
    windows, centres = window_track(wave, step=WINDOW_FRAMES)
    assert windows.shape == (2, WINDOW_FRAMES, N_MELS)  # 3.2 s: 321 frames, windows from frames 0 and 160
    assert np.allclose(centres, [79.5 * HOP, 239.5 * HOP])
    assert windows[0].sum() == pytest.approx(windows[1].sum(), rel=0.1)  # each raised alike, whatever its level
    loud = window_track(np.concatenate([clip, clip * 2]), step=WINDOW_FRAMES)[0]
    assert loud[1].sum() > 3 * loud[0].sum()  # loud windows are left as they are


def test_a_track_of_audio_shorter_than_a_window_is_one_padded_window():
    windows, centres = window_track(np.zeros(800, np.float32), step=80)
    assert windows.shape == (1, WINDOW_FRAMES, N_MELS) and len(centres) == 1


def test_unit_mean_is_the_unit_length_direction_of_the_mean():
    rows = np.array([[1.0, 0.0], [0.0, 1.0]])
    assert np.allclose(unit_mean(rows), [2 ** -0.5, 2 ** -0.5])


def probe(weight: float = 0.5, calibration: Calibration | None = None) -> EncoderProbe:
    weights = np.zeros(EMBEDDING_DIM)
    weights[0] = 3.0
    return EncoderProbe(tuple(weights), -1.0, weight, calibration)


def test_the_probes_log_odds_join_the_networks_at_the_fusion_weight():
    embeddings = np.zeros((2, EMBEDDING_DIM))
    embeddings[:, 0] = [1.0, -1.0]  # probe log-odds 2 and -4
    p_network = np.array([0.7, 0.4])
    expected = sigmoid(logit(p_network) + 0.5 * np.array([2.0, -4.0]))
    assert np.allclose(probe().fused(p_network, embeddings), expected)
    assert np.allclose(probe(0.0).fused(p_network, embeddings), p_network)


def test_the_fused_probability_is_calibrated_unless_asked_not_to_be():
    embeddings = np.zeros((1, EMBEDDING_DIM))
    calibration = Calibration(0.5, 0.2)
    calibrated = probe(calibration=calibration)
    raw = calibrated.fused([0.8], embeddings, calibrated=False)
    assert np.allclose(calibrated.fused([0.8], embeddings), calibration(raw))
    assert not np.allclose(raw, calibration(raw))


def test_a_probe_round_trips_through_its_dict():
    original = probe(calibration=Calibration(0.9, -0.1))
    assert EncoderProbe.from_dict(original.to_dict()) == original


@pytest.mark.parametrize("change", [{"weights": (1.0,) * 3}, {"bias": float("nan")}, {"fusion_weight": -1.0}])
def test_a_probe_of_the_wrong_shape_or_with_bad_numbers_is_refused(change):
    fields = {**probe().__dict__, **change}
    with pytest.raises(ValueError, match="probe"):
        EncoderProbe(**fields)
