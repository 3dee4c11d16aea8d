"""Training end to end on synthetic voices: it learns, it generalises to new speakers, it resumes."""

import copy
import csv
import json

import numpy as np
import pytest
import torch
from conftest import TINY_TRAIN_ARGS

from voxgender.cli.main import main
from voxgender.core.features import FeatureConfig
from voxgender.core.networks import ModelConfig
from voxgender.model import load_model
from voxgender.training import trainer as train_module
from voxgender.training.adversary import CorpusAdversary
from voxgender.training.augment import AugmentConfig
from voxgender.training.data import read_corpus
from voxgender.training.features import FeatureExtractor
from voxgender.training.model_files import load_torch_model, save_model_dir
from voxgender.training.networks import GenderRNN
from voxgender.training.trainer import (
    BalancedSampler,
    Clip,
    TrainConfig,
    identity_changes,
    is_better,
    learning_rate,
    load_clips,
    run_identity,
    train,
    upgraded_identity,
    validate,
)


def test_tiny_model_separates_held_out_synthetic_speakers(tiny_model_dir, synthetic_corpora):
    model = load_model(tiny_model_dir)
    heldout = read_corpus(synthetic_corpora["heldout"])
    predictions = [model.predict(u.path) for u in heldout]
    accuracy = np.mean([p.label == u.gender for p, u in zip(predictions, heldout)])
    assert accuracy >= 0.9, f"held-out accuracy {accuracy:.2f}"


def test_training_outputs(tiny_model_dir):
    for name in ("model.safetensors", "config.json", "checkpoint.pt", "history.csv", "curves.png", "splits.json"):
        assert (tiny_model_dir / name).stat().st_size > 0, name
    rows = list(csv.DictReader((tiny_model_dir / "history.csv").open()))
    assert [int(r["epoch"]) for r in rows] == list(range(1, len(rows) + 1))
    assert {"train_loss", "val_loss", "val_uar"} <= set(rows[0])
    splits = json.loads((tiny_model_dir / "splits.json").read_text())
    assert not set(splits["train"]) & set(splits["val"])
    config = json.loads((tiny_model_dir / "config.json").read_text())
    assert config["model"]["hidden"] == 24 and config["features"]["kind"] == "logmel"
    assert config["metadata"]["val_uar"] == max(float(r["val_uar"]) for r in rows)
    best = max(rows, key=lambda r: (float(r["val_uar"]), -float(r["val_loss"])))
    assert config["metadata"]["best_epoch"] == int(best["epoch"])  # UAR ties go to the lower loss


def test_an_epoch_is_better_for_higher_uar_or_equal_uar_and_lower_loss():
    assert is_better({"val_uar": 0.95, "val_loss": 0.9}, best_uar=0.94, best_loss=0.1)
    assert is_better({"val_uar": 0.95, "val_loss": 0.2}, best_uar=0.95, best_loss=0.3)
    assert not is_better({"val_uar": 0.95, "val_loss": 0.3}, best_uar=0.95, best_loss=0.3)
    assert not is_better({"val_uar": 0.94, "val_loss": 0.01}, best_uar=0.95, best_loss=0.3)


@pytest.mark.parametrize("adversarial", [False, True], ids=["plain", "corpus-adversary"])
def test_resume_continues_a_killed_run_and_matches_an_uninterrupted_one(synthetic_corpora, tmp_path, monkeypatch, adversarial):
    """A run killed during epoch 3 and resumed ends exactly like a run that was never stopped
    (learning-rate schedule, weight average and corpus adversary included)."""
    data = [str(synthetic_corpora["train"])] + ([str(synthetic_corpora["heldout"])] if adversarial else [])
    common = ["--data", *data, *TINY_TRAIN_ARGS, "--patience", "99"]
    common += ["--corpus-adversary", "0.5"] if adversarial else []
    common[common.index("--epochs") + 1] = "3"
    common[common.index("--steps-per-epoch") + 1] = "6"
    assert main(["train", *common, "--out", str(tmp_path / "full")]) == 0

    interrupted = tmp_path / "interrupted"
    validations = []

    def killed_in_third_epoch(*args, **kwargs):
        validations.append(1)
        if len(validations) == 3:
            raise KeyboardInterrupt
        return validate(*args, **kwargs)

    monkeypatch.setattr(train_module, "validate", killed_in_third_epoch)
    assert main(["train", *common, "--out", str(interrupted)]) == 130
    monkeypatch.undo()
    assert len(list(csv.DictReader((interrupted / "history.csv").open()))) == 2
    assert main(["train", *common, "--out", str(interrupted), "--resume"]) == 0

    full = list(csv.DictReader((tmp_path / "full" / "history.csv").open()))
    resumed = list(csv.DictReader((interrupted / "history.csv").open()))
    assert [r["epoch"] for r in resumed] == ["1", "2", "3"]
    for a, b in zip(full, resumed):
        assert float(a["train_loss"]) == pytest.approx(float(b["train_loss"]), rel=1e-5)
        assert float(a["val_uar"]) == pytest.approx(float(b["val_uar"]))
    state_full = torch.load(tmp_path / "full" / "checkpoint.pt", weights_only=True)
    state_resumed = torch.load(interrupted / "checkpoint.pt", weights_only=True)
    for part in ("net", "average") + (("adversary",) if adversarial else ()):
        for key in state_full[part]:
            torch.testing.assert_close(state_full[part][key], state_resumed[part][key])


def test_resume_refuses_a_checkpoint_of_other_settings_and_leaves_it_intact(synthetic_corpora, tmp_path, capsys):
    """Resuming with another learning rate or augmentation would train a run that neither setting
    describes: one error line names the checkpoint and each difference, and nothing is written."""
    args = ["--data", str(synthetic_corpora["train"]), *TINY_TRAIN_ARGS, "--out", str(tmp_path / "run")]
    args[args.index("--epochs") + 1] = "1"
    args[args.index("--steps-per-epoch") + 1] = "2"
    assert main(["train", *args]) == 0
    before = (tmp_path / "run" / "checkpoint.pt").read_bytes()
    capsys.readouterr()
    assert main(["train", *args, "--resume", "--lr", "0.02", "--augment-set", "p_onset=0.5"]) == 2
    error = capsys.readouterr().err.strip()
    assert error.count("\n") == 0 and str(tmp_path / "run" / "checkpoint.pt") in error
    assert "train.lr 0.01 -> 0.02" in error and "train.augment.p_onset 0.0 -> 0.5" in error
    assert (tmp_path / "run" / "checkpoint.pt").read_bytes() == before
    assert main(["train", *args, "--resume", "--threads", "2"]) == 0  # the thread count is not a setting of the run


def test_a_checkpoint_older_than_an_option_counts_it_at_its_default():
    features, arch = FeatureConfig(), ModelConfig()
    clips = [Clip(np.zeros(1), 0, "a", "c")]
    old = run_identity(features, arch, TrainConfig(), clips, clips)
    del old["train"]["corpus_power"]  # as written before the option existed
    assert identity_changes(upgraded_identity(old), run_identity(features, arch, TrainConfig(), clips, clips)) == []
    assert identity_changes(upgraded_identity(old), run_identity(features, arch, TrainConfig(corpus_power=1.0), clips, clips)) \
        == ["train.corpus_power 0.0 -> 1.0"]


def test_keep_final_runs_the_whole_schedule_and_saves_its_last_epoch(synthetic_corpora, tmp_path):
    """--keep final: patience does not stop the run, and the saved weights are the last epoch's
    weight average (the checkpoint's), whatever the validation said."""
    args = ["--data", str(synthetic_corpora["train"]), *TINY_TRAIN_ARGS, "--keep", "final", "--patience", "1"]
    args[args.index("--epochs") + 1] = "3"
    args[args.index("--steps-per-epoch") + 1] = "4"
    assert main(["train", *args, "--out", str(tmp_path / "final")]) == 0
    rows = list(csv.DictReader((tmp_path / "final" / "history.csv").open()))
    assert [r["epoch"] for r in rows] == ["1", "2", "3"]
    model = load_model(tmp_path / "final")
    meta = model.config["metadata"]
    assert meta["kept_epoch"] == 3 and meta["val_uar"] == pytest.approx(float(rows[-1]["val_uar"]))
    average = torch.load(tmp_path / "final" / "checkpoint.pt", weights_only=True)["average"]
    for key, value in load_torch_model(tmp_path / "final").net.state_dict().items():
        torch.testing.assert_close(value, average[f"module.{key}"])
    assert "The weights of the last epoch (3)" in (tmp_path / "final" / "MODEL_CARD.md").read_text()


def test_fine_tuning_starts_from_a_model_and_keeps_its_design(tiny_model_dir, synthetic_corpora, tmp_path, capsys):
    """--init-from: the start model's weights, normalisation, features and architecture carry over
    (options of those groups are ignored); its validation UAR before any step is recorded; the card
    names it and its training data."""
    common = ["train", "--data", str(synthetic_corpora["heldout"]), "--init-from", str(tiny_model_dir),
              "--epochs", "1", "--steps-per-epoch", "3", "--batch-size", "8", "--crop-s", "1.0",
              "--val-fraction", "0.3", "--test-fraction", "0", "--threads", "1", "--hidden", "8", "--n-mels", "20"]
    assert main([*common, "--out", str(tmp_path / "frozen"), "--lr", "0"]) == 0
    assert main([*common, "--out", str(tmp_path / "tuned"), "--lr", "0.01"]) == 0
    start, frozen, tuned = (load_torch_model(d) for d in (tiny_model_dir, tmp_path / "frozen", tmp_path / "tuned"))
    assert frozen.features == start.features and frozen.net.cfg == start.net.cfg
    for key, value in start.net.state_dict().items():
        torch.testing.assert_close(frozen.net.state_dict()[key], value)
        if key.startswith("feat_"):
            torch.testing.assert_close(tuned.net.state_dict()[key], value)
    assert not torch.equal(tuned.net.rnn.weight_ih_l0, start.net.rnn.weight_ih_l0)
    meta = frozen.config["metadata"]
    assert meta["best_epoch"] == 0 and meta["val_uar"] == meta["start_val_uar"]  # no epoch beat the start: it stays
    tuned_meta = tuned.config["metadata"]
    assert tuned_meta["val_uar"] >= tuned_meta["start_val_uar"]
    assert meta["fine_tuned_from"]["model"] == str(tiny_model_dir)
    card = (tmp_path / "tuned" / "MODEL_CARD.md").read_text()
    assert f"Fine-tuned from `{tiny_model_dir}`" in card and "synth_train" in card and "synth_heldout" in card

    # a fine-tuning resumes only from the weights it started from
    assert main([*common, "--out", str(tmp_path / "frozen"), "--lr", "0", "--resume"]) == 0
    capsys.readouterr()
    other_start = [*common, "--out", str(tmp_path / "frozen"), "--lr", "0", "--resume"]
    other_start[other_start.index(str(tiny_model_dir))] = str(tmp_path / "tuned")
    assert main(other_start) == 2 and "start_weights" in capsys.readouterr().err


def test_fine_tuning_from_a_missing_model_is_a_one_line_error(synthetic_corpora, tmp_path, capsys):
    assert main(["train", "--data", str(synthetic_corpora["heldout"]), "--init-from", str(tmp_path / "nowhere"),
                 "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err.strip()
    assert str(tmp_path / "nowhere") in err and "\n" not in err
    assert not (tmp_path / "out").exists()


def test_cosine_schedule_decays_from_lr_to_its_final_fraction():
    cfg = TrainConfig(epochs=4, steps_per_epoch=10, lr=1e-2, final_lr_fraction=0.05)
    rates = [learning_rate(cfg, step) for step in range(41)]
    assert rates[0] == pytest.approx(1e-2) and rates[-1] == pytest.approx(5e-4)
    assert rates[20] == pytest.approx(0.5 * (1e-2 + 5e-4))
    assert all(a > b for a, b in zip(rates, rates[1:]))
    assert learning_rate(TrainConfig(lr=1e-3, lr_schedule="constant"), 500) == 1e-3


def test_train_config_comes_back_from_its_saved_json():
    cfg = TrainConfig(epochs=7, keep="final", seed=3, augment=AugmentConfig(p_onset=0.5, snr_db=(5.0, 25.0)))
    restored = TrainConfig.from_dict(json.loads(json.dumps({**cfg.to_dict(), "retired_option": 1})))
    assert restored == cfg and restored.augment.snr_db == (5.0, 25.0)


def test_balanced_sampler_balances_corpora_and_genders():
    clips = [Clip(np.zeros(1), 0, f"a{i}", "big") for i in range(90)]
    clips += [Clip(np.zeros(1), 1, "a_m", "big")]
    clips += [Clip(np.zeros(1), t, f"b{t}", "small") for t in (0, 1)]
    idx = BalancedSampler(clips).sample(4000, np.random.default_rng(0))
    corpora = np.array([clips[i].corpus == "small" for i in idx])
    targets = np.array([clips[i].target for i in idx])
    assert corpora.mean() == pytest.approx(0.5, abs=0.03)
    assert targets.mean() == pytest.approx(0.5, abs=0.03)


def test_corpus_power_one_draws_every_speaker_alike():
    clips = [Clip(np.zeros(1), i % 2, f"a{i}", "big") for i in range(8)]
    clips += [Clip(np.zeros(1), t, f"b{t}", "small") for t in (0, 1)]
    idx = BalancedSampler(clips, corpus_power=1.0).sample(5000, np.random.default_rng(0))
    speakers = np.array([clips[i].speaker for i in idx])
    assert np.mean([s.startswith("b") for s in speakers]) == pytest.approx(2 / 10, abs=0.02)
    assert all(np.mean(speakers == s) == pytest.approx(0.1, abs=0.015) for s in set(speakers))


def test_train_rejects_empty_training_data(tmp_path, synthetic_corpora):
    from voxgender.errors import VoxgenderError

    clips = load_clips(read_corpus(synthetic_corpora["train"])[:2], "validation", show_progress=False)
    with pytest.raises(VoxgenderError):
        train([], clips, tmp_path, cfg=TrainConfig(epochs=1), show_progress=False)


@pytest.mark.parametrize("variant", ["plain", "corpus-adversary", "members"])
def test_torchrun_trains_data_parallel_on_two_cpu_processes(synthetic_corpora, tmp_path, variant):
    """torchrun --nproc_per_node=2 -m voxgender train: gloo DDP on CPU, rank 0 writes the model; with
    --corpus-adversary, the corpus classifier is data-parallel too and its state is checkpointed;
    with --members 2, each member trains data-parallel in turn and rank 0 saves their ensemble."""
    import os
    import subprocess
    import sys

    out = tmp_path / "ddp"
    args = [*TINY_TRAIN_ARGS]
    args[args.index("--epochs") + 1] = "2"
    args[args.index("--steps-per-epoch") + 1] = "4"
    adversarial = variant == "corpus-adversary"
    corpora = [synthetic_corpora["train"], *([synthetic_corpora["heldout"]] if adversarial else [])]
    args += {"plain": [], "corpus-adversary": ["--corpus-adversary", "0.5"], "members": ["--members", "2"]}[variant]
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=2", "--master_port=29517",
           "-m", "voxgender", "train", "--data", *map(str, corpora), "--out", str(out), *args]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=300, env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert done.returncode == 0, done.stderr[-2000:]
    assert json.loads(done.stdout[done.stdout.index("{"):done.stdout.index("}") + 1])["world_size"] == 2
    trained = [out / "member0", out / "member1"] if variant == "members" else [out]
    for run in trained:
        assert json.loads((run / "config.json").read_text())["metadata"]["world_size"] == 2
        assert [r["epoch"] for r in csv.DictReader((run / "history.csv").open())] == ["1", "2"]
        adversary = torch.load(run / "checkpoint.pt", weights_only=True)["adversary"]
        assert (adversary is not None) == adversarial
    assert load_model(out).network.cfg.members == len(trained)


def test_exclude_speakers_leaves_the_listed_speakers_out_of_training_and_validation_not_out_of_test(
        synthetic_corpora, tmp_path, capsys):
    args = ["--data", str(synthetic_corpora["train"]), *TINY_TRAIN_ARGS, "--test-fraction", "0.2"]
    args[args.index("--epochs") + 1] = "1"
    args[args.index("--steps-per-epoch") + 1] = "2"
    assert main(["train", *args, "--out", str(tmp_path / "all")]) == 0
    split = json.loads((tmp_path / "all" / "splits.json").read_text())
    listed_speakers = [split["train"][0], split["val"][0], split["test"][0]]
    listed = tmp_path / "audit.csv"
    listed.write_text("speaker,label\n" + "".join(f"{s},male\n" for s in listed_speakers) + "other_corpus:9,male\n")
    assert main(["train", *args, "--out", str(tmp_path / "run"), "--exclude-speakers", str(listed)]) == 0
    kept = json.loads((tmp_path / "run" / "splits.json").read_text())
    assert kept == {"train": split["train"][1:], "val": split["val"][1:], "test": split["test"]}
    config = json.loads((tmp_path / "run" / "config.json").read_text())
    assert config["metadata"]["excluded_speakers"] == sorted(listed_speakers[:2])  # those trained on without the list
    assert f"2 listed speakers left out of training and validation ({', '.join(sorted(listed_speakers[:2]))})" in (
        tmp_path / "run" / "MODEL_CARD.md").read_text()

    listed.write_text("path,label\nx.wav,male\n")
    capsys.readouterr()
    assert main(["train", *args, "--out", str(tmp_path / "again"), "--exclude-speakers", str(listed)]) == 2
    err = capsys.readouterr().err
    assert "audit.csv: missing required column(s) speaker" in err and err.count("\n") == 1


@pytest.mark.parametrize("cell", ["gru", "lstm"])
def test_a_step_on_the_padded_batch_equals_the_packed_step_of_a_causal_network(cell):
    extractor = FeatureExtractor(FeatureConfig(n_mels=24))
    wave = torch.randn(4, 16000, generator=torch.Generator().manual_seed(1)) * 0.1
    lengths = torch.tensor([16000, 9000, 4000, 16000])  # the clips' own samples; the rest is padding
    wave[torch.arange(16000)[None, :] >= lengths[:, None]] = 0
    targets = torch.tensor([0, 1, 0, 1])
    steps = {}
    for packed in (True, False):
        torch.manual_seed(0)
        net = GenderRNN(ModelConfig(input_dim=24, cell=cell, hidden=16, layers=2, dropout=0.0))
        opt = torch.optim.SGD(net.parameters(), lr=1.0)  # the step is the gradient itself
        loss = train_module.train_step(net, extractor, opt, wave, lengths, targets, 1.0, packed=packed)
        steps[packed] = (loss, torch.cat([p.detach().flatten() for p in net.parameters()]))
    assert steps[True][0] == pytest.approx(steps[False][0], rel=1e-5)
    torch.testing.assert_close(steps[True][1], steps[False][1], rtol=1e-4, atol=1e-6)


def test_a_step_with_the_corpus_adversary_moves_the_network_up_the_corpus_loss():
    """Gradient reversal: the network's step is its gender step plus ``scale`` times the corpus
    loss's gradient (where plain training would subtract it), and the corpus head itself learns."""
    extractor = FeatureExtractor(FeatureConfig(n_mels=24))
    wave = torch.randn(4, 16000, generator=torch.Generator().manual_seed(2)) * 0.1
    lengths, targets, corpus = torch.full((4,), 16000), torch.tensor([0, 1, 0, 1]), torch.tensor([0, 0, 1, 1])
    torch.manual_seed(0)
    start, head = GenderRNN(ModelConfig(input_dim=24, hidden=16, layers=2, dropout=0.0)), CorpusAdversary(16, 2)

    def flat(params) -> torch.Tensor:
        return torch.cat([p.detach().flatten() for p in params])

    def step(scale: float | None) -> tuple[torch.Tensor, torch.Tensor]:
        net, adversary = copy.deepcopy(start), copy.deepcopy(head)
        opt = torch.optim.SGD([*net.parameters(), *adversary.parameters()], lr=1.0)  # the step is the gradient
        train_module.train_step(net, extractor, opt, wave, lengths, targets, 1e9,
                                adversary=None if scale is None else train_module.batch_adversary(adversary, corpus, scale))
        return flat(net.parameters()) - flat(start.parameters()), flat(adversary.parameters()) - flat(head.parameters())

    plain, _ = step(None)
    adversarial, head_step = step(0.5)
    net = copy.deepcopy(start)
    _, _, hidden = net(extractor(wave), return_hidden=True)
    torch.nn.functional.cross_entropy(head.net(hidden.reshape(-1, 16)), corpus.repeat_interleave(hidden.shape[1])).backward()
    corpus_gradient = flat(torch.zeros_like(p) if p.grad is None else p.grad for p in net.parameters())  # none for the gender head
    assert corpus_gradient.abs().max() > 0
    torch.testing.assert_close(adversarial - plain, 0.5 * corpus_gradient, rtol=1e-3, atol=1e-6)
    assert head_step.abs().max() > 0


def test_the_corpus_adversary_needs_two_training_corpora(synthetic_corpora, tmp_path, capsys):
    assert main(["train", "--data", str(synthetic_corpora["train"]), *TINY_TRAIN_ARGS, "--out", str(tmp_path / "run"),
                 "--corpus-adversary", "0.5"]) == 2
    err = capsys.readouterr().err
    assert "--corpus-adversary needs at least two training corpora, not 1" in err and err.count("\n") == 1


def test_a_distillation_step_mixes_the_label_step_and_the_step_toward_the_teacher():
    """With a teacher, the loss is (1 - w) x the label cross-entropy + w x the cross-entropy against
    the teacher's frame posteriors, so the step (a gradient, by linearity) mixes the two steps."""
    extractor = FeatureExtractor(FeatureConfig(n_mels=24))
    wave = torch.randn(4, 16000, generator=torch.Generator().manual_seed(3)) * 0.1
    lengths, targets = torch.tensor([16000, 12000, 16000, 8000]), torch.tensor([0, 1, 0, 1])
    torch.manual_seed(0)
    start = GenderRNN(ModelConfig(input_dim=24, hidden=16, layers=2, dropout=0.0))
    teacher = GenderRNN(ModelConfig(input_dim=24, hidden=16, layers=1, dropout=0.0)).eval()

    def step(distill: float) -> torch.Tensor:
        net = copy.deepcopy(start)
        opt = torch.optim.SGD(net.parameters(), lr=1.0)  # the step is the gradient
        train_module.train_step(net, extractor, opt, wave, lengths, targets, 1e9,
                                teacher=teacher if distill else None, distill=distill)
        return torch.cat([(p - q).detach().flatten() for p, q in zip(net.parameters(), start.parameters())])

    net = copy.deepcopy(start)
    feats = extractor(wave)
    valid = torch.arange(feats.shape[1])[None, :] < train_module.frame_lengths(lengths, extractor.cfg)[:, None]
    soft = torch.softmax(teacher(feats)[0][valid], dim=-1).detach()
    (-torch.nn.functional.cross_entropy(net(feats)[0][valid], soft)).backward()  # minus: a step is minus the gradient
    toward_teacher = torch.cat([p.grad.flatten() for p in net.parameters()])
    torch.testing.assert_close(step(1.0), toward_teacher, rtol=1e-4, atol=1e-7)
    torch.testing.assert_close(step(0.25), 0.75 * step(0.0) + 0.25 * toward_teacher, rtol=1e-4, atol=1e-7)


def test_a_student_distilled_from_a_teacher_follows_the_teacher_not_the_labels(tiny_model_dir, synthetic_corpora, tmp_path,
                                                                              capsys):
    """A teacher with its two outputs swapped calls every voice the other gender: a student that
    learns from it alone (--distill 1) does the same on held-out speakers, against the labels."""
    teacher = load_torch_model(tiny_model_dir)
    last = teacher.net.head[-1]
    with torch.no_grad():
        last.weight.copy_(last.weight.flip(0))
        last.bias.copy_(last.bias.flip(0))
    swapped = save_model_dir(tmp_path / "swapped", teacher.net, teacher.features, teacher.config["inference"],
                             teacher.config["metadata"])
    assert main(["train", "--data", str(synthetic_corpora["train"]), *TINY_TRAIN_ARGS, "--out", str(tmp_path / "student"),
                 "--teacher", str(swapped), "--distill", "1", "--keep", "final",
                 "--epochs", "6"]) == 0  # validation (by the labels) would keep epoch 1
    student, teacher = load_model(tmp_path / "student"), load_model(swapped)
    heldout = read_corpus(synthetic_corpora["heldout"])
    student_labels = [student.predict(u.path).label for u in heldout]
    against_labels = np.mean([label != u.gender for label, u in zip(student_labels, heldout)])
    with_teacher = np.mean([label == teacher.predict(u.path).label for label, u in zip(student_labels, heldout)])
    assert against_labels >= 0.75 and with_teacher >= 0.75, (against_labels, with_teacher)  # trained by the labels: <= 0.1
    assert student.config["metadata"]["teacher"]["model"] == str(swapped)
    assert student.config["metadata"]["train"]["distill"] == 1.0
    assert f"Distilled from `{swapped}`" in (tmp_path / "student" / "MODEL_CARD.md").read_text()

    # a distillation resumes only with the teacher it started with
    capsys.readouterr()
    assert main(["train", "--data", str(synthetic_corpora["train"]), *TINY_TRAIN_ARGS, "--out", str(tmp_path / "student"),
                 "--teacher", str(tiny_model_dir), "--distill", "1", "--keep", "final", "--epochs", "6", "--resume"]) == 2
    assert "teacher_weights" in capsys.readouterr().err


def test_a_teacher_over_other_features_is_a_one_line_error(tiny_model_dir, synthetic_corpora, tmp_path, capsys):
    args = ["train", "--data", str(synthetic_corpora["train"]), *TINY_TRAIN_ARGS, "--out", str(tmp_path / "student"),
            "--teacher", str(tiny_model_dir), "--n-mels", "20"]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert "teacher model's features differ" in err and err.count("\n") == 1


def test_train_refuses_a_non_empty_out_unless_resumed_or_overwritten(tmp_path, synthetic_corpora, capsys):
    out = tmp_path / "model"
    out.mkdir()
    (out / "MODEL_CARD.md").write_text("# an older model\n")
    command = ["train", "--data", str(synthetic_corpora["train"]), "--out", str(out), "--epochs", "1",
               "--steps-per-epoch", "1", "--batch-size", "2", "--hidden", "8"]
    assert main(command) == 2
    error = capsys.readouterr().err
    assert f"{out}: not empty" in error and "--overwrite" in error and len(error.strip().splitlines()) == 1
    assert main([*command, "--resume", "--overwrite"]) == 2
    assert main([*command, "--overwrite"]) == 0
    assert "an older model" not in (out / "MODEL_CARD.md").read_text()
