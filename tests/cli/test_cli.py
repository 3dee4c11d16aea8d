"""Every CLI subcommand end to end, through ``voxgender.cli.main.main`` and through the installed script."""

import csv
import dataclasses
import io
import json
import subprocess
import sys
from pathlib import Path

import pytest
import soundfile as sf

from voxgender.cli.main import build_parser, main
from voxgender.cli.training import train_recipe
from voxgender.core.features import FeatureConfig
from voxgender.core.networks import ModelConfig
from voxgender.io.model_dir import bundled_model_dir, member_train_settings
from voxgender.model import SPEECH_CHECKS, load_model
from voxgender.training.data import read_speaker_list
from voxgender.training.trainer import TrainConfig


@pytest.fixture()
def clips(tmp_path, female_clip, male_clip):
    folder = tmp_path / "clips"
    (folder / "sub").mkdir(parents=True)
    sf.write(folder / "f.wav", female_clip, 16000)
    sf.write(folder / "sub" / "m.flac", male_clip, 16000)
    (folder / "broken.wav").write_bytes(b"RIFF....WAVEfmt garbage")
    (folder / "notes.txt").write_text("not audio, and not picked up by the folder walk")
    return folder


def run(capsys, *argv):
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def test_predict_jsonl_keeps_going_after_a_bad_file(capsys, clips, tiny_model_dir):
    code, out, err = run(capsys, "predict", clips, "--format", "jsonl", "--model", tiny_model_dir)
    records = [json.loads(line) for line in out.splitlines()]
    by_name = {Path(r["path"]).name: r for r in records}
    assert code == 0
    assert set(by_name) == {"f.wav", "m.flac", "broken.wav"}
    assert by_name["f.wav"]["label"] == "female" and by_name["m.flac"]["label"] == "male"
    assert by_name["f.wav"]["path"] == str(clips / "f.wav")
    assert set(by_name["f.wav"]) == {"path", "label", "p_female", "confidence", "duration_s", "speech_s"}
    assert by_name["f.wav"]["duration_s"] == pytest.approx(2.0, abs=0.01)
    assert by_name["f.wav"]["confidence"] == pytest.approx(max(by_name["f.wav"]["p_female"], 1 - by_name["f.wav"]["p_female"]))
    assert "broken.wav" in by_name["broken.wav"]["error"] and "\n" not in by_name["broken.wav"]["error"]
    assert "1 of 3 inputs failed" in err


def test_predict_holds_bounded_audio_at_once_and_gives_the_same_records(clips, tiny_model_dir, monkeypatch):
    """A batch of files is decoded and classified in groups under an audio budget (so a folder of
    long recordings cannot fill memory); the records, their order and the errors do not change."""
    from voxgender import predict
    from voxgender.model import load_model

    model = load_model(tiny_model_dir)
    paths = [str(clips / "f.wav"), str(clips / "broken.wav"), str(clips / "sub" / "m.flac"), str(clips / "f.wav")]
    together = predict.predict_batch(model, paths)
    assert [len(g) for g in predict._decoded_groups(model, paths, None)] == [4]
    monkeypatch.setattr(predict, "BATCH_AUDIO_S", 0.5)  # less than one clip: every file alone
    assert [len(g) for g in predict._decoded_groups(model, paths, None)] == [1, 1, 1, 1]
    alone = predict.predict_batch(model, paths)
    assert [r["path"] for r in alone] == paths and "error" in alone[1]
    for a, b in zip(together, alone):
        assert a.keys() == b.keys() and a.get("label") == b.get("label")
        assert a.get("p_female", 0) == pytest.approx(b.get("p_female", 0), abs=2e-4)


def test_predict_path_is_the_input_as_given(capsys, clips, tiny_model_dir, monkeypatch):
    monkeypatch.chdir(clips)
    code, out, _ = run(capsys, "predict", "f.wav", "./sub/m.flac", "--format", "json", "--model", tiny_model_dir)
    assert code == 0
    assert [r["path"] for r in json.loads(out)] == ["f.wav", "./sub/m.flac"]


def test_predict_csv_and_files_from(capsys, clips, tiny_model_dir, tmp_path):
    listing = tmp_path / "list.txt"
    listing.write_text(f"# inputs\n{clips / 'f.wav'}\n\n{clips / 'sub' / 'm.flac'}\n")
    code, out, _ = run(capsys, "predict", "--files-from", listing, "--format", "csv", "--model", tiny_model_dir)
    rows = list(csv.DictReader(io.StringIO(out)))
    assert code == 0
    assert [r["label"] for r in rows] == ["female", "male"]
    assert rows[0]["error"] == ""


def test_predict_table_prints_results_and_one_line_errors(capsys, clips, tiny_model_dir):
    code, out, err = run(capsys, "predict", clips / "f.wav", clips / "broken.wav", clips / "missing.wav",
                         "--model", tiny_model_dir)
    assert code == 0
    assert "female" in out and "f.wav" in out
    error_lines = [line for line in err.splitlines() if line.startswith("error:")]
    assert len(error_lines) == 2 and "missing.wav: no such file" in err


def test_predict_exit_status_is_nonzero_only_when_every_input_fails(capsys, clips, tiny_model_dir):
    code, out, _ = run(capsys, "predict", clips / "broken.wav", "--format", "jsonl", "--model", tiny_model_dir)
    assert code == 1 and "error" in json.loads(out)
    code, _, err = run(capsys, "predict", "--model", tiny_model_dir)
    assert code == 2 and "no input files" in err


def test_predict_with_a_bad_model_path_is_one_clear_line(capsys, clips, tmp_path):
    code, _, err = run(capsys, "predict", clips / "f.wav", "--model", tmp_path / "nope")
    assert code == 2
    assert err.strip().count("\n") == 0 and "no such model directory" in err


def test_evaluate_writes_report(capsys, tiny_model_dir, synthetic_corpora, tmp_path):
    out_dir = tmp_path / "report"
    code, out, _ = run(capsys, "evaluate", "--model", tiny_model_dir, "--data", synthetic_corpora["heldout"],
                       "--out", out_dir)
    assert code == 0
    metrics = json.loads((out_dir / "metrics.json").read_text())
    assert metrics["overall"]["n"] == 24 and metrics["overall"]["uar"] >= 0.9
    assert "synth_heldout" in metrics["per_corpus"]
    for name in ("confusion.png", "per_corpus.png", "by_length.png", "report.md"):
        assert (out_dir / name).stat().st_size > 0
    assert "UAR" in out or "uar" in out


def test_evaluate_validation_split_uses_the_models_splits(capsys, tiny_model_dir, synthetic_corpora, tmp_path):
    code, _, _ = run(capsys, "evaluate", "--model", tiny_model_dir, "--data", synthetic_corpora["train"],
                     "--split", "val", "--out", tmp_path / "r")
    val_speakers = json.loads((tiny_model_dir / "splits.json").read_text())["val"]
    metrics = json.loads((tmp_path / "r" / "metrics.json").read_text())
    assert code == 0 and metrics["overall"]["n"] == 3 * len(val_speakers)


def test_demo_runs_on_its_own_synthetic_voices(capsys, tiny_model_dir):
    code, out, _ = run(capsys, "demo", "--model", tiny_model_dir)
    assert code == 0
    assert out.count("synthetic_female") == 3 and out.count("synthetic_male") == 3
    assert "of 6 synthetic voices recognised" in out


@pytest.mark.skipif(not (bundled_model_dir() / "model.safetensors").exists(), reason="no bundled model")
def test_installed_script_and_module_run_the_bundled_demo():
    for cmd in (["voxgender", "demo"], [sys.executable, "-m", "voxgender", "demo"]):
        exe = Path(sys.executable).parent / cmd[0] if cmd[0] == "voxgender" else cmd[0]
        done = subprocess.run([str(exe), *cmd[1:]], capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stderr
        assert "synthetic voices recognised" in done.stdout


def test_version_and_help(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["--version"])
    assert exit_info.value.code == 0 and "voxgender" in capsys.readouterr().out


def test_card_renders_training_data_evaluation_limits_and_responsible_use(capsys, tiny_model_dir, synthetic_corpora, tmp_path):
    card_path = tiny_model_dir / "MODEL_CARD.md"
    assert "synth_train" in card_path.read_text()  # train wrote a first card
    assert run(capsys, "evaluate", "--model", tiny_model_dir, "--data", synthetic_corpora["heldout"],
               "--out", tmp_path / "ev")[0] == 0
    code, _, _ = run(capsys, "card", "--model", tiny_model_dir, "--evaluation", f"Held-out test={tmp_path / 'ev' / 'metrics.json'}")
    card = card_path.read_text()
    metrics = json.loads((tmp_path / "ev" / "metrics.json").read_text())
    assert code == 0
    assert "## Held-out test" in card and f"UAR {100 * metrics['overall']['uar']:.1f}%" in card
    assert "48-band log-mel and 8 cepstral pitch bands (55-500 Hz) features" in card  # as trained (conftest)
    assert "not a person's gender identity" in card and "Children" in card and "telephone" in card
    code, _, err = run(capsys, "card", "--model", tiny_model_dir, "--evaluation", "no-equals-sign")
    assert code == 2 and "TITLE=metrics.json" in err
    figures = tmp_path / "figures.md"
    figures.write_text("# Panel\n\n| figure | measured |\n|---|---|\n| LOCO mean UAR | 0.923 |\n\n![plot](plot.png)\n")
    assert run(capsys, "card", "--model", tiny_model_dir, "--figures", figures)[0] == 0
    card = card_path.read_text()
    assert "## Benchmarks" in card and "| LOCO mean UAR | 0.923 |" in card
    assert "\n## Panel\n" in card and "plot.png" not in card  # a report's headings go one level down, its images out
    assert "p_female is the network's own, uncalibrated" in card
    code, _, err = run(capsys, "card", "--model", tiny_model_dir, "--figures", tmp_path / "absent.md")
    assert code == 2 and "absent.md: cannot read figures" in err


def test_top_level_help_and_a_mistyped_command_do_not_import_torch():
    """Only the chosen subcommand builds its options, so the overview answers at once."""
    probe = ("import sys\nfrom voxgender.cli.main import main\n"
             "for argv in (['--help'], ['tain']):\n"
             "    try:\n        main(argv)\n    except SystemExit as stop:\n        print('exit', stop.code)\n"
             "print('torch imported' if 'torch' in sys.modules else 'no torch')\n")
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120)
    assert done.stdout.splitlines()[-3:] == ["exit 0", "exit 2", "no torch"], done.stdout + done.stderr
    assert "segment" in done.stdout and "invalid choice: 'tain'" in done.stderr


@pytest.mark.parametrize("option, words", [(("--augment-set", "p_nosie=0.5"), ("p_nosie", "p_noise")),
                                           (("--hidden", "0"), ("hidden", "positive")),
                                           (("--epochs", "0"), ("epochs", "at least 1")),
                                           (("--features", "mfcc", "--n-mfcc", "60"), ("n_mfcc", "n_mels")),
                                           (("--augment-set", "pitch_direction=up"), ("pitch_direction", "toward_other"))])
def test_train_refuses_a_bad_setting_in_one_line_before_reading_data(capsys, tmp_path, option, words):
    code, _, err = run(capsys, "train", "--data", tmp_path / "absent", "--out", tmp_path / "run", *option)
    assert code == 2 and all(word in err for word in words) and err.count("\n") == 1


@pytest.mark.skipif(not (bundled_model_dir() / "model.safetensors").exists(), reason="no bundled model")
def test_the_bundled_model_was_trained_with_the_recipe_file(benchmarks_dir):
    """`make model` trains the shipped model from benchmarks/bundled_recipe.args, which the LOCO
    benchmark trains with too: a model built with other options would make its figures another recipe's."""
    from accuracy_benchmark import bundled_recipe

    argv = ["train", "--data", "corpus", "--out", "model", "--threads", "1", *bundled_recipe()]
    args = build_parser(argv).parse_args(argv)
    features, arch, cfg = train_recipe(args)
    config = json.loads((bundled_model_dir() / "config.json").read_text())
    # An ensemble's members train one after the other with seeds seed, seed + 1, ...
    assert [TrainConfig.from_dict(t) for t in member_train_settings(config)] == [
        dataclasses.replace(cfg, seed=cfg.seed + i) for i in range(args.members)]
    assert features == FeatureConfig.from_dict(config["features"])
    assert dataclasses.replace(arch, input_dim=features.dim, members=args.members) == ModelConfig.from_dict(config["model"])
    # The speakers the recipe leaves out: some were left out, and none trained or validated it.
    listed = read_speaker_list(benchmarks_dir.parent / args.exclude_speakers) if args.exclude_speakers else set()
    excluded = set(config["metadata"].get("excluded_speakers", []))
    splits = json.loads((bundled_model_dir() / "splits.json").read_text())
    assert bool(excluded) == bool(listed) and excluded <= listed
    assert not listed & {*splits["train"], *splits["val"]}


def test_a_file_without_speech_is_answered_none_unless_the_speech_check_is_skipped(tmp_path, capsys, female_clip):
    """Music gets no gender from predict, as from stream and segment; the default gate stops
    listening once it has heard speech, --speech-check full reports every file's speech seconds,
    and --no-speech-check skips the check (and then music gets a gender, which is why it is on)."""
    from helpers import synthetic_music

    sf.write(tmp_path / "music.wav", synthetic_music(), 16000)
    sf.write(tmp_path / "voice.wav", female_clip, 16000)
    inputs = [str(tmp_path / "music.wav"), str(tmp_path / "voice.wav")]
    assert main(["predict", *inputs, "--format", "jsonl"]) == 0
    music, voice = map(json.loads, capsys.readouterr().out.splitlines())
    assert music["label"] == "none" and music["p_female"] is None and music["speech_s"] < 0.5
    assert voice["label"] == "female" and voice["speech_s"] is None
    assert main(["predict", *inputs, "--format", "jsonl", "--speech-check", "full"]) == 0
    heard = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert heard[0] == music and heard[1]["speech_s"] > 1.0 and heard[1]["p_female"] == voice["p_female"]
    assert main(["predict", *inputs, "--format", "jsonl", "--no-speech-check"]) == 0
    unchecked = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert unchecked[0]["label"] in ("female", "male") and unchecked[0]["speech_s"] is None
    assert unchecked[1]["p_female"] == voice["p_female"]
    model = load_model()
    assert model.predict(synthetic_music()).label == "none"
    assert model.predict(female_clip.copy()).label == "female"


def test_train_options_are_generated_from_the_config_fields_they_set():
    """Each train option's default is its config field's default, and --help lists the choices of
    a Literal field: a setting is written once, in its dataclass."""
    from voxgender.cli.training import AUGMENT_OPTIONS, FEATURE_OPTIONS, MODEL_OPTIONS, TRAIN_OPTIONS
    from voxgender.training.augment import AugmentConfig

    args = build_parser(["train"]).parse_args(["train", "--data", "d", "--out", "o"])
    for config, options in ((FeatureConfig(), FEATURE_OPTIONS), (ModelConfig(), MODEL_OPTIONS),
                            (TrainConfig(), TRAIN_OPTIONS), (AugmentConfig(), AUGMENT_OPTIONS)):
        for _, field, _ in options:
            assert getattr(args, field) == getattr(config, field), field
    features, arch, cfg = train_recipe(build_parser(["train"]).parse_args(
        ["train", "--data", "d", "--out", "o", "--features", "mfcc", "--deltas", "--cell", "lstm", "--keep", "final",
         "--pitch-direction", "toward_other", "--augment", "0.5"]))
    assert (features.kind, features.deltas, arch.cell, cfg.keep) == ("mfcc", True, "lstm", "final")
    assert (cfg.augment.pitch_direction, cfg.augment.strength) == ("toward_other", 0.5)
    with pytest.raises(SystemExit):
        build_parser(["train"]).parse_args(["train", "--data", "d", "--out", "o", "--cell", "transformer"])


@pytest.mark.parametrize("command", ["predict", "batch"])
def test_the_speech_check_options_are_the_ones_a_model_knows(command):
    parser = build_parser([command])
    args = parser.parse_args([command, "x.wav", *(["--out", "r.jsonl"] if command == "batch" else [])])
    assert args.speech_check == "gate"
    sub = next(a for a in parser._subparsers._group_actions[0].choices[command]._actions if a.dest == "speech_check" and a.choices)
    assert tuple(sub.choices) == SPEECH_CHECKS
