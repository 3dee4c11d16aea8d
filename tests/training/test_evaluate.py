import json
import warnings

import numpy as np
import pytest
import soundfile as sf

from voxgender.errors import DataError
from voxgender.io.audio import SAMPLE_RATE
from voxgender.training import evaluate as ev
from voxgender.training.data import Utterance

F, M = "female", "male"

# 10 clips: female 0.9 0.8 0.6 0.2 -> F F F M; male 0.1 0.3 0.4 0.7 0.5 0.05 -> M M M F F(0.5 >= 0.5) M
Y_TRUE = [F] * 4 + [M] * 6
P_FEMALE = np.array([0.9, 0.8, 0.6, 0.2, 0.1, 0.3, 0.4, 0.7, 0.5, 0.05])


def test_classification_metrics_by_hand():
    m = ev.classification_metrics(Y_TRUE, P_FEMALE)
    assert m["n"] == 10
    assert m["confusion"] == {"labels": [F, M], "matrix": [[3, 1], [2, 4]]}
    assert m["accuracy"] == pytest.approx(0.7)
    assert m["uar"] == pytest.approx((3 / 4 + 4 / 6) / 2)
    fem, mal = m["per_class"][F], m["per_class"][M]
    assert (fem["precision"], fem["recall"], fem["f1"], fem["support"]) == pytest.approx((3 / 5, 3 / 4, 2 / 3, 4))
    assert (mal["precision"], mal["recall"], mal["f1"], mal["support"]) == pytest.approx((4 / 5, 4 / 6, 8 / 11, 6))
    assert m["macro"] == pytest.approx({"precision": 0.7, "recall": (3 / 4 + 4 / 6) / 2, "f1": (2 / 3 + 8 / 11) / 2})
    json.dumps(m)  # plain Python types only


def test_classification_metrics_threshold():
    m = ev.classification_metrics(Y_TRUE, P_FEMALE, threshold=0.55)
    assert m["confusion"]["matrix"] == [[3, 1], [1, 5]]
    assert m["accuracy"] == pytest.approx(0.8)


def test_classification_metrics_single_class():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        m = ev.classification_metrics([M, M, M], np.array([0.1, 0.2, 0.9]))
    assert m["accuracy"] == pytest.approx(2 / 3)
    assert m["uar"] == pytest.approx(2 / 3)  # the recall of the only class present
    assert m["per_class"][F] == {"precision": 0.0, "recall": 0.0, "f1": 0.0, "support": 0}
    assert m["per_class"][M]["recall"] == pytest.approx(2 / 3)
    assert m["confusion"]["matrix"] == [[0, 0], [1, 2]]


def test_classification_metrics_rejects_bad_input():
    with pytest.raises(ValueError, match="labels"):
        ev.classification_metrics([F, "other"], np.array([0.1, 0.9]))
    with pytest.raises(ValueError):
        ev.classification_metrics([F, M], np.array([0.1]))
    with pytest.raises(ValueError):
        ev.classification_metrics([], np.array([]))


def test_grouped_metrics():
    groups = ["b", "a", "a", "b", "a", "a", "b", "b", "a", "b"]
    g = ev.grouped_metrics(Y_TRUE, P_FEMALE, groups)
    assert list(g) == ["a", "b"]
    # a: F0.8 F0.6 M0.1 M0.3 M0.5 -> F F M M F: all females right, 2 of 3 males right
    assert g["a"] == pytest.approx({"n": 5, "accuracy": 4 / 5, "uar": (1 + 2 / 3) / 2, "female_recall": 1.0, "male_recall": 2 / 3})
    # b: F0.9 F0.2 M0.4 M0.7 M0.05 -> F M M F M
    assert g["b"] == pytest.approx({"n": 5, "accuracy": 3 / 5, "uar": (1 / 2 + 2 / 3) / 2, "female_recall": 0.5, "male_recall": 2 / 3})
    only_male = ev.grouped_metrics([M, M, F], np.array([0.2, 0.7, 0.9]), ["x", "x", "y"])
    assert only_male["x"]["female_recall"] is None and only_male["x"]["male_recall"] == 0.5
    assert only_male["y"]["male_recall"] is None and only_male["y"]["uar"] == 1.0


def test_crop_center():
    audio = np.arange(3 * SAMPLE_RATE, dtype=np.float32)
    crop = ev.crop_center(audio, 1.0)
    assert len(crop) == SAMPLE_RATE and crop[0] == SAMPLE_RATE and crop[-1] == 2 * SAMPLE_RATE - 1
    assert len(ev.crop_center(audio, 0.5)) == SAMPLE_RATE // 2
    assert ev.crop_center(audio, 0.5)[0] == (len(audio) - SAMPLE_RATE // 2) // 2
    assert ev.crop_center(audio, None) is audio
    assert ev.crop_center(audio, 5.0) is audio  # shorter than the crop: whole clip
    assert len(ev.crop_center(audio[:SAMPLE_RATE + 1], 1.0)) == SAMPLE_RATE


class SignModel:
    """p_female 0.9 for arrays with a positive mean, else 0.1; records batch sizes."""

    def __init__(self):
        self.batches = []

    def p_female_of_arrays(self, audios, aggregation=None):
        self.batches.append(len(audios))
        return np.array([0.9 if float(np.mean(a)) > 0 else 0.1 for a in audios])


def _wav(path, seconds, dc, rng):
    audio = dc + 0.01 * rng.standard_normal(int(round(seconds * SAMPLE_RATE)))
    sf.write(path, audio.astype(np.float32), SAMPLE_RATE)
    return str(path)


@pytest.fixture
def corpus(tmp_path):
    rng = np.random.default_rng(0)
    # female, 2.5 s: centre second positive, the rest strongly negative ->
    # full clip and 2 s crop look male, 0.5 s and 1 s crops look female
    tricky = np.full(int(2.5 * SAMPLE_RATE), -0.5, dtype=np.float32)
    tricky[12000:28000] = 0.1
    sf.write(tmp_path / "a1.wav", tricky, SAMPLE_RATE)
    bad = tmp_path / "bad.wav"
    bad.write_bytes(b"RIFF this is not audio at all" * 20)
    return [
        Utterance(str(tmp_path / "a1.wav"), "s1", F, "alpha"),
        Utterance(_wav(tmp_path / "a2.wav", 1.5, -0.1, rng), "s2", M, "alpha"),
        Utterance(_wav(tmp_path / "a3.wav", 0.8, 0.1, rng), "s3", F, "alpha"),
        Utterance(_wav(tmp_path / "b1.wav", 4.5, -0.1, rng), "s4", M, "beta"),
        Utterance(str(bad), "s5", F, "beta"),
        Utterance(_wav(tmp_path / "b2.wav", 1.0, 0.1, rng), "s6", F, "beta", age=8),
        Utterance(_wav(tmp_path / "b3.wav", 2.0, -0.1, rng), "s7", M, "beta", age=10),
    ]


def test_evaluate_model(corpus):
    result = ev.evaluate_model(SignModel(), corpus, show_progress=False)
    assert result["n_files"] == 6
    assert result["audio_hours"] == pytest.approx((2.5 + 1.5 + 0.8 + 4.5 + 1.0 + 2.0) / 3600)
    assert [e["path"] for e in result["errors"]] == [corpus[4].path]
    assert "bad.wav" in result["errors"][0]["error"]

    overall = result["overall"]
    assert overall["confusion"]["matrix"] == [[2, 1], [0, 3]]
    assert overall["accuracy"] == pytest.approx(5 / 6) and overall["uar"] == pytest.approx(5 / 6)

    assert list(result["per_corpus"]) == ["alpha", "beta"]
    assert result["per_corpus"]["alpha"] == pytest.approx(
        {"n": 3, "accuracy": 2 / 3, "uar": 0.75, "female_recall": 0.5, "male_recall": 1.0})
    assert result["per_corpus"]["beta"] == {"n": 3, "accuracy": 1.0, "uar": 1.0, "female_recall": 1.0, "male_recall": 1.0}
    assert result["children"]["n"] == 2 and result["children"]["accuracy"] == 1.0

    by_length = result["by_length"]
    assert list(by_length) == ["0.5", "1.0", "2.0", "4.0", "full"]
    assert {k: v["n"] for k, v in by_length.items()} == {"0.5": 6, "1.0": 5, "2.0": 3, "4.0": 1, "full": 6}
    assert by_length["0.5"]["accuracy"] == 1.0 and by_length["1.0"]["accuracy"] == 1.0  # centre of a1 is female
    assert by_length["2.0"]["accuracy"] == pytest.approx(2 / 3) and by_length["2.0"]["uar"] == pytest.approx(0.5)
    assert by_length["full"]["accuracy"] == pytest.approx(5 / 6)
    assert by_length["full"]["seconds"] is None and by_length["0.5"]["seconds"] == 0.5


def test_evaluate_model_chunks_and_options(corpus, monkeypatch):
    whole = ev.evaluate_model(SignModel(), corpus, show_progress=False)
    monkeypatch.setattr(ev, "EVAL_CHUNK", 2)
    model = SignModel()
    chunked = ev.evaluate_model(model, corpus, show_progress=False)
    assert max(model.batches) <= 2
    assert chunked == whole

    adults = ev.evaluate_model(SignModel(), [u for u in corpus if u.age is None], crop_lengths=(3.0,), show_progress=False)
    assert "children" not in adults
    assert {k: v["n"] for k, v in adults["by_length"].items()} == {"3.0": 1, "full": 4}  # the unreadable file is skipped


def test_evaluate_model_all_unreadable(corpus):
    with pytest.raises(DataError, match="bad.wav"):
        ev.evaluate_model(SignModel(), [corpus[4]], show_progress=False)


def test_no_clip_long_enough(corpus):
    result = ev.evaluate_model(SignModel(), corpus[2:3], crop_lengths=(1.0,), show_progress=False)
    assert result["by_length"]["1.0"] == {"seconds": 1.0, "n": 0, "accuracy": None, "uar": None}
    assert "1 s" in ev.format_summary(result)


def test_write_report_and_summary(corpus, tmp_path):
    result = ev.evaluate_model(SignModel(), corpus, show_progress=False)
    paths = ev.write_report(result, tmp_path / "report", title="Test run")
    assert [p.name for p in paths] == ["metrics.json", "confusion.png", "per_corpus.png", "by_length.png",
                                       "reliability.png", "report.md"]
    for png in paths[1:5]:
        data = png.read_bytes()
        assert data.startswith(b"\x89PNG") and len(data) > 1000
    assert json.loads(paths[0].read_text()) == result
    report = paths[5].read_text()
    assert report.startswith("# Test run")
    for text in ("alpha", "beta", "confusion.png", "per_corpus.png", "by_length.png", "reliability.png", "bad.wav",
                 "83.33%", "| 2 (66.7%) |", "expected calibration error"):
        assert text in report

    summary = ev.format_summary(result)
    for text in ("alpha", "beta", "UAR", "macro", "83.33%", "children", "full clip", "bad.wav", "calibration error"):
        assert text in summary
    # scores 0.9 / 0.1, right on 5 of 6 clips: confidence 0.9 against accuracy 5/6
    assert result["calibration"]["ece"] == pytest.approx(0.9 - 5 / 6)
