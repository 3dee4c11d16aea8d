"""Ensembles: members' log-posteriors averaged, one model to every consumer, members checked."""

import json

import numpy as np
import pytest
import soundfile as sf
import torch

from voxgender.cli.main import main
from voxgender.core.features import FeatureConfig
from voxgender.core.networks import ModelConfig
from voxgender.errors import ModelError
from voxgender.io.model_dir import SPLITS_FILE
from voxgender.model import load_model
from voxgender.training.ensemble import build_ensemble
from voxgender.training.model_files import load_torch_model, save_model_dir
from voxgender.training.networks import GenderRNN

FEATURES = FeatureConfig(kind="mfcc", deltas=True)
SPLITS = {"train": ["c:1", "c:2"], "val": ["c:3"], "test": ["c:4"]}


def save_member(root, seed: int, features: FeatureConfig = FEATURES, hidden: int = 16, splits=SPLITS):
    """A randomly initialised network saved as a trained model of seed ``seed`` would be."""
    torch.manual_seed(seed)
    net = GenderRNN(ModelConfig(input_dim=features.dim, hidden=hidden, layers=2, dense=8))
    net.set_normalisation(torch.linspace(-12 + seed, -2, features.dim), torch.linspace(1, 3, features.dim))
    metadata = {"train": {"seed": seed, "keep": "final"}, "kept_epoch": 12, "best_epoch": 9, "val_uar": 0.9 + seed / 100,
                "data": {}, "exclude_children": True}
    out = save_model_dir(root / f"seed{seed}", net, features, {"window_s": 8.0}, metadata)
    (out / SPLITS_FILE).write_text(json.dumps(splits))
    return out


@pytest.fixture
def members(tmp_path):
    return [save_member(tmp_path, 0), save_member(tmp_path, 1)]


def test_an_ensemble_averages_its_members_frame_log_posteriors(tmp_path, members, female_clip):
    ensemble = load_model(build_ensemble(members, tmp_path / "ens"))
    clip = female_clip[:24000]
    each = [load_model(m).posteriors([clip])[0] for m in members]
    got = ensemble.posteriors([clip])[0]
    log_odds = np.mean([lp[:, 0] - lp[:, 1] for lp in each], axis=0)
    np.testing.assert_allclose(got[:, 0] - got[:, 1], log_odds, atol=1e-4)
    np.testing.assert_allclose(np.exp(got).sum(axis=1), 1.0, atol=1e-5)  # still log-posteriors
    assert not np.allclose(each[0], each[1], atol=1e-2)  # the members differ, so the mean is a real test
    assert json.loads((tmp_path / "ens" / SPLITS_FILE).read_text()) == SPLITS


def clips_of(female_clip, male_clip):
    return [female_clip[:16000], female_clip[16000:48000], male_clip[:16000], male_clip[16000:48000], female_clip[:4000]]


def test_the_first_member_alone_decides_the_clips_it_is_sure_of(tmp_path, members, female_clip, male_clip):
    clips = clips_of(female_clip, male_clip)
    ensemble = load_model(build_ensemble(members, tmp_path / "ens"))
    first = load_model(members[0]).p_female_of_arrays(clips)
    ensemble.cascade_margin = None
    full = ensemble.p_female_of_arrays(clips)
    first_log_odds = np.abs(np.log(first / (1 - first)))
    ensemble.cascade_margin = float(np.sort(first_log_odds)[-3:-1].mean())  # the first member is sure of two clips
    sure = first_log_odds > ensemble.cascade_margin
    assert sure.sum() == 2
    batches = []

    class Counted:
        """The second member, counting the windows it runs on."""

        def __init__(self, inner):
            self.inner, self.cfg, self.members = inner, inner.cfg, [self]

        def __call__(self, x, state=None):
            batches.append(x.shape[0])
            return self.inner(x, state)

    ensemble.network.members[1] = Counted(ensemble.network.members[1])
    got = ensemble.p_female_of_arrays(clips)
    assert sum(batches) == len(clips) - 2  # the second member ran on the unsure clips only
    np.testing.assert_allclose(got[sure], first[sure], atol=1e-5)
    np.testing.assert_allclose(got[~sure], full[~sure], atol=1e-5)
    assert not np.allclose(first, full, atol=1e-3)  # the members differ, so the split is a real test
    for other in ("majority", "speech_mean_log"):  # not cascaded: every member hears every clip
        batches.clear()
        every_member = load_model(tmp_path / "ens", all_members=True)
        np.testing.assert_allclose(ensemble.p_female_of_arrays(clips, other), every_member.p_female_of_arrays(clips, other))
        assert sum(batches) == len(clips)


def ensemble_deciding_by_its_first_member(members, tmp_path):
    """The members' ensemble with its own cascade margin 0 in config.json: its first member decides every clip."""
    model_dir = build_ensemble(members, tmp_path / "ens")
    config = json.loads((model_dir / "config.json").read_text())
    config["inference"]["cascade_margin"] = 0.0
    (model_dir / "config.json").write_text(json.dumps(config))
    return model_dir


def test_predict_and_batch_all_members_run_the_whole_ensemble_on_every_file(tmp_path, members, female_clip, male_clip,
                                                                            capsys):
    clips = clips_of(female_clip, male_clip)
    paths = [str(tmp_path / f"clip{i}.wav") for i in range(len(clips))]
    for path, clip in zip(paths, clips):
        sf.write(path, clip, 16000)
    model_dir = ensemble_deciding_by_its_first_member(members, tmp_path)
    ensemble = load_model(model_dir)
    assert ensemble.cascade_margin == 0.0
    cascaded = ensemble.p_female_of_arrays(clips)
    ensemble.cascade_margin = None
    full = ensemble.p_female_of_arrays(clips)
    assert not np.allclose(cascaded, full, atol=1e-3)
    assert load_model(model_dir, all_members=True).cascade_margin is None
    for flags, expected in (([], cascaded), (["--all-members"], full)):
        capsys.readouterr()
        assert main(["predict", *paths, "--model", str(model_dir), "--format", "jsonl", "--no-speech-check", *flags]) == 0
        got = [json.loads(line)["p_female"] for line in capsys.readouterr().out.splitlines()]
        np.testing.assert_allclose(got, expected, atol=1e-4)
        out = tmp_path / f"batch{len(flags)}.jsonl"
        assert main(["batch", *paths, "--model", str(model_dir), "--out", str(out), "--workers", "1", "--no-speech-check",
                     *flags]) == 0
        by_path = {r["path"]: r["p_female"] for r in map(json.loads, out.read_text().splitlines())}
        np.testing.assert_allclose([by_path[p] for p in paths], expected, atol=1e-4)


@pytest.mark.parametrize("flags, margin", [([], 0.0), (["--all-members"], None)])
def test_evaluate_all_members_turns_the_cascade_off(tmp_path, members, female_clip, monkeypatch, flags, margin):
    model_dir = ensemble_deciding_by_its_first_member(members, tmp_path)
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    sf.write(corpus / "a.wav", female_clip[:16000], 16000)
    (corpus / "labels.csv").write_text("path,speaker,gender\na.wav,c:1,f\n")
    margins = []

    def evaluated(model, utterances, **kwargs):
        margins.append(model.cascade_margin)
        raise SystemExit(0)  # the model is all this test needs

    monkeypatch.setattr("voxgender.training.evaluate.evaluate_model", evaluated)
    with pytest.raises(SystemExit):
        main(["evaluate", "--model", str(model_dir), "--data", str(corpus), "--out", str(tmp_path / "ev"), *flags])
    assert margins == [margin]


@pytest.mark.parametrize("odd_one, reason", [
    ("features", "features or architecture differ"),
    ("architecture", "features or architecture differ"),
    ("split", "another speaker split"),
    ("ensemble", "is an ensemble already"),
])
def test_members_that_do_not_belong_together_are_refused(tmp_path, members, odd_one, reason):
    if odd_one == "features":
        odd = save_member(tmp_path / "odd", 2, features=FeatureConfig(kind="mfcc", deltas=True, n_mfcc=13))
    elif odd_one == "architecture":
        odd = save_member(tmp_path / "odd", 2, hidden=8)
    elif odd_one == "split":
        odd = save_member(tmp_path / "odd", 2, splits={**SPLITS, "test": ["c:3"], "val": ["c:4"]})
    else:
        odd = build_ensemble(members, tmp_path / "odd")
    with pytest.raises(ModelError, match=reason) as err:
        build_ensemble([members[0], odd], tmp_path / "ens")
    assert str(odd) in str(err.value) and "\n" not in str(err.value)
    assert not (tmp_path / "ens").exists()


def test_one_model_is_no_ensemble(tmp_path, members):
    with pytest.raises(ModelError, match="at least two"):
        build_ensemble(members[:1], tmp_path / "ens")


def test_the_cli_writes_the_ensemble_and_a_card_naming_each_member(tmp_path, members, capsys):
    assert main(["ensemble", *map(str, members), "--out", str(tmp_path / "ens")]) == 0
    card = (tmp_path / "ens" / "MODEL_CARD.md").read_text()
    assert "An ensemble of 2 networks" in card and "over 20 MFCCs of 48 mel bands + Δ + ΔΔ features" in card
    assert f"Member 1 (`{members[0]}`, seed 0)" in card and f"Member 2 (`{members[1]}`, seed 1)" in card
    assert "| seed | 0, 1 |" in card
    assert "the others only the files whose mean log-odds the first puts within ±2," in card
    assert [p.name for p in sorted((tmp_path / "ens").glob("*.onnx"))] == ["model-0.onnx", "model-1.onnx"]


def test_an_ensemble_is_fine_tuned_member_by_member(tmp_path, members, synthetic_corpora, capsys):
    build_ensemble(members, tmp_path / "ens")
    start = load_torch_model(tmp_path / "ens").net
    quick = ["--epochs", "1", "--steps-per-epoch", "2", "--batch-size", "4", "--crop-s", "1.0", "--threads", "1"]
    command = ["train", "--data", str(synthetic_corpora["train"]), "--init-from", str(tmp_path / "ens"), *quick]
    assert main([*command, "--out", str(tmp_path / "tuned")]) == 0
    tuned = load_torch_model(tmp_path / "tuned")
    assert tuned.net.cfg.members == 2 and load_model(tmp_path / "tuned").network.cfg.members == 2
    for i, start_member in enumerate(start.members):
        config = json.loads((tmp_path / "tuned" / f"member{i}" / "config.json").read_text())
        assert config["model"]["members"] == 1 and config["metadata"]["train"]["seed"] == i
        assert config["metadata"]["fine_tuned_from"]["model"] == str(tmp_path / "ens")
        # Each member starts from its own network: its normalisation (never trained) is that member's.
        assert torch.equal(tuned.net.members[i].feat_mean, start_member.feat_mean)
    assert not torch.equal(start.members[0].feat_mean, start.members[1].feat_mean)
    capsys.readouterr()
    assert main([*command, "--members", "2", "--out", str(tmp_path / "refused")]) == 2
    assert capsys.readouterr().err.strip() == ("voxgender: error: --init-from fine-tunes the networks of the model "
                                               "it starts from: leave out --members")


def test_split_seed_keeps_the_split_while_the_seed_changes_training(tmp_path, synthetic_corpora):
    quick = ["--hidden", "8", "--layers", "1", "--dense", "4", "--epochs", "1", "--steps-per-epoch", "2",
             "--batch-size", "4", "--crop-s", "1.0", "--threads", "1"]
    data = ["--data", str(synthetic_corpora["train"])]
    for name, seeds in (("a", ["--seed", "0"]), ("b", ["--seed", "1", "--split-seed", "0"]), ("c", ["--seed", "1"])):
        assert main(["train", *data, "--out", str(tmp_path / name), *quick, *seeds]) == 0
    split = {name: json.loads((tmp_path / name / SPLITS_FILE).read_text()) for name in "abc"}
    assert split["a"] == split["b"] != split["c"]
    weights = {name: load_torch_model(tmp_path / name).net.state_dict()["head.3.weight"] for name in "ab"}
    assert not torch.equal(weights["a"], weights["b"])


def test_train_members_trains_each_seed_on_one_split_and_saves_their_ensemble(tmp_path, synthetic_corpora, capsys):
    quick = ["--hidden", "8", "--layers", "1", "--dense", "4", "--epochs", "2", "--steps-per-epoch", "2",
             "--batch-size", "4", "--crop-s", "1.0", "--threads", "1", "--seed", "3"]
    command = ["train", "--data", str(synthetic_corpora["train"]), "--out", str(tmp_path / "ens"), "--members", "2", *quick]
    assert main(command) == 0
    ensemble = load_torch_model(tmp_path / "ens")
    members = [tmp_path / "ens" / f"member{i}" for i in range(2)]
    assert ensemble.net.cfg.members == 2
    assert [load_model(m).config["metadata"]["train"]["seed"] for m in members] == [3, 4]
    splits = (tmp_path / "ens" / SPLITS_FILE).read_text()
    assert all((m / SPLITS_FILE).read_text() == splits for m in members)
    for held, member in zip(ensemble.net.members, members):
        torch.testing.assert_close(held.state_dict(), load_torch_model(member).net.state_dict())
    before = [(m / "model.safetensors").read_bytes() for m in members]
    capsys.readouterr()
    assert main([*command, "--resume"]) == 0  # both finished: resumed after their last epoch, nothing retrained
    assert capsys.readouterr().err.count("after epoch 2") == 2
    assert [(m / "model.safetensors").read_bytes() for m in members] == before


def test_members_must_be_positive(tmp_path, synthetic_corpora, capsys):
    assert main(["train", "--data", str(synthetic_corpora["train"]), "--out", str(tmp_path / "m"), "--members", "0"]) == 2
    assert capsys.readouterr().err.strip() == "voxgender: error: --members 0: must be 1 or more"
