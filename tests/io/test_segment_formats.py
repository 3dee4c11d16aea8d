"""Every timeline format parses back to what was written; ``voxgender segment`` end to end."""

import csv
import json
from itertools import groupby

import pytest
import soundfile as sf
from recordings import conversation

from voxgender.cli.files import segment_config
from voxgender.cli.main import build_parser, main
from voxgender.core.timeline import Segment, SegmentationResult, SegmentSummary
from voxgender.io.timelines import EXTENSIONS, SEGMENT_FORMATS, parse, render

SEGMENTS = [Segment(0.0, 1.25, "nonspeech"), Segment(1.25, 4.5, "female", 0.9312), Segment(4.5, 4.8, "nonspeech"),
            Segment(4.8, 9.123, "male", 0.0421), Segment(9.123, 10.0, "nonspeech")]
RESULT = SegmentationResult("dir/my talk.wav", SEGMENTS, SegmentSummary.of(SEGMENTS, 10.0))
SPEECH = [s for s in SEGMENTS if s.label != "nonspeech"]


@pytest.mark.parametrize("fmt", SEGMENT_FORMATS)
def test_round_trip(fmt):
    timeline = parse(render(RESULT, fmt), fmt)
    full = fmt in ("csv", "json", "jsonl", "textgrid")
    expected = SEGMENTS if full else SPEECH
    assert [(s.start, s.end, s.label) for s in timeline.segments] == [(s.start, s.end, s.label) for s in expected]
    if fmt in ("csv", "json", "jsonl", "rttm"):
        assert [s.p_female for s in timeline.segments] == [s.p_female for s in expected]
    if fmt in ("json", "jsonl"):
        assert timeline.summary == RESULT.summary.to_dict() and timeline.path == RESULT.path


def test_formats_follow_their_conventions():
    rttm = render(RESULT, "rttm").splitlines()
    assert rttm[0].split() == ["SPEAKER", "my_talk", "1", "1.250", "3.250", "<NA>", "<NA>", "female", "0.9312", "<NA>"]
    grid = render(RESULT, "textgrid")
    assert grid.startswith('File type = "ooTextFile"') and "intervals: size = 5" in grid and "xmax = 10.000" in grid
    assert render(RESULT, "audacity").splitlines()[1] == "4.800000\t9.123000\tmale"
    rows = list(csv.DictReader(render(RESULT, "csv").splitlines()))
    assert rows[1] == {"path": "dir/my talk.wav", "start": "1.250", "end": "4.500", "label": "female", "p_female": "0.9312"}
    assert json.loads(render(RESULT, "json"))["summary"]["female_share"] == pytest.approx(3.25 / (3.25 + 4.323), abs=1e-4)
    with pytest.raises(ValueError):
        render(RESULT, "xml")


def test_cli_writes_a_timeline_a_plot_and_a_summary_per_input(tmp_path, capsys):
    audio, reference = conversation([("female", 3.0), ("male", 4.0)], seed=3)
    (tmp_path / "in").mkdir()
    sf.write(tmp_path / "in" / "talk.flac", audio, 16000)
    (tmp_path / "in" / "broken.wav").write_bytes(b"RIFF....WAVEfmt garbage")
    out = tmp_path / "out"
    code = main(["segment", str(tmp_path / "in"), "--format", "textgrid", "--out", str(out), "--plot"])
    err = capsys.readouterr().err
    assert code == 0
    assert "broken.wav: not a decodable audio file" in err and "female share" in err
    timeline = parse((out / f"talk{EXTENSIONS['textgrid']}").read_text(), "textgrid")
    speech = [s.label for s in timeline.segments if s.label != "nonspeech"]
    assert [label for label, _ in groupby(speech)] == ["female", "male"]
    assert (out / "talk.png").read_bytes()[:4] == b"\x89PNG"
    summary = {r["path"].rsplit("/", 1)[-1]: r for r in csv.DictReader((out / "summary.csv").open())}
    assert summary["broken.wav"]["error"] and not summary["talk.flac"]["error"]
    assert float(summary["talk.flac"]["female_share"]) == pytest.approx(3 / 7, abs=0.06)
    assert (out / "shares.png").read_bytes()[:4] == b"\x89PNG"  # the share and its interval, drawn


def test_several_inputs_get_a_collection_line_and_file_with_intervals_over_the_files(tmp_path, capsys):
    for name, turns in (("a.wav", [("female", 3.0), ("male", 2.0)]), ("b.wav", [("male", 3.0)]), ("c.wav", [("female", 2.5)])):
        sf.write(tmp_path / name, conversation(turns, seed=len(name))[0], 16000)
    out = tmp_path / "out"
    assert main(["segment", *(str(tmp_path / n) for n in ("a.wav", "b.wav", "c.wav")), "--out", str(out), "--plot"]) == 0
    line = [x for x in capsys.readouterr().err.splitlines() if x.startswith("all 3 files")]
    assert len(line) == 1 and "female share" in line[0] and "resampling the files" in line[0]
    collection = json.loads((out / "collection.json").read_text())
    assert collection["files"] == 3 and collection["female_share_low"] <= collection["female_share"] <= collection["female_share_high"]
    assert collection["female_turns"] >= 2 and collection["male_turns"] >= 2
    assert (out / "shares.png").read_bytes()[:4] == b"\x89PNG"


def test_cli_prints_streamable_formats_and_needs_out_for_the_others(tmp_path, capsys):
    for name, seed in (("a.wav", 1), ("b.wav", 2)):
        sf.write(tmp_path / name, conversation([("male", 2.0)], seed=seed)[0], 16000)
    assert main(["segment", str(tmp_path / "a.wav"), str(tmp_path / "b.wav"), "--format", "csv"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "path,start,end,label,p_female" and lines.count(lines[0]) == 1
    assert {line.split(",")[0] for line in lines[1:]} == {str(tmp_path / "a.wav"), str(tmp_path / "b.wav")}
    assert main(["segment", str(tmp_path / "a.wav"), str(tmp_path / "b.wav"), "--format", "json"]) == 2
    assert "needs --out" in capsys.readouterr().err
    assert main(["segment", str(tmp_path / "missing.wav")]) == 1
    assert "missing.wav: no such file" in capsys.readouterr().err


def test_cli_settings_reach_the_segmenter_and_bad_ones_are_one_line(tmp_path, capsys):
    sf.write(tmp_path / "a.wav", conversation([("male", 2.0)], seed=1)[0], 16000)
    assert main(["segment", str(tmp_path / "a.wav"), "--vad-floor", "0.6"]) == 2
    err = capsys.readouterr().err.strip()
    assert "segmentation settings" in err and "vad_floor" in err and "\n" not in err
    male = main(["segment", str(tmp_path / "a.wav"), "--format", "jsonl"]), capsys.readouterr().out
    female = main(["segment", str(tmp_path / "a.wav"), "--format", "jsonl", "--male-bias", "-200"]), capsys.readouterr().out
    assert male[0] == female[0] == 0
    assert '"male"' in male[1] and '"male"' not in female[1] and '"female"' in female[1]
    argv = ["segment", "a.wav", "--reset-after", "0.6", "--preroll", "0.25"]
    config = segment_config(build_parser(argv).parse_args(argv))
    assert (config.reset_after_s, config.preroll_s) == (0.6, 0.25)
    assert main(["segment", str(tmp_path / "a.wav"), "--preroll", "-1"]) == 2
    assert "preroll_s" in capsys.readouterr().err


def test_the_summary_gives_turns_their_median_and_resampled_intervals_of_times_share_and_median_turn():
    from voxgender.core.timeline import Segment, SegmentSummary

    turns = [Segment(0, 2, "female"), Segment(2, 3, "nonspeech"), Segment(3, 7, "male"), Segment(7, 8, "female"),
             Segment(8, 11, "male"), Segment(11, 12, "female")]
    s = SegmentSummary.of(turns, 12.0)
    assert (s.female_turns, s.male_turns, s.median_turn_s) == (3, 2, 2.0)
    assert s.female_share == pytest.approx(4 / 11, abs=1e-4)
    assert s.female_share_low < s.female_share < s.female_share_high
    assert 0 <= s.female_share_low and s.female_share_high <= 1
    assert s.female_s_low < s.female_s == 4.0 < s.female_s_high and s.male_s_low < s.male_s == 7.0 < s.male_s_high
    assert s.median_turn_low <= s.median_turn_s <= s.median_turn_high
    alike = SegmentSummary.of([Segment(0, 2, "female"), Segment(2, 4, "male")] * 1, 4.0)
    assert alike.median_turn_low == alike.median_turn_high == 2.0  # alike turns: no spread
    silent = SegmentSummary.of([Segment(0, 3, "nonspeech")], 3.0)
    assert silent.female_share is None and silent.female_share_low is None and silent.median_turn_low is None


def test_a_collection_sums_its_files_and_resamples_them_for_every_interval():
    from voxgender.core.timeline import CollectionSummary, Segment, SegmentSummary

    files = [SegmentSummary.of([Segment(0, 30, "female"), Segment(30, 40, "male")], 40.0),
             SegmentSummary.of([Segment(0, 10, "female"), Segment(10, 40, "male"), Segment(40, 50, "nonspeech")], 50.0),
             SegmentSummary.of([Segment(0, 5, "nonspeech")], 5.0)]
    c = CollectionSummary.of(files)
    assert (c.files, c.duration_s, c.female_s, c.male_s, c.female_turns, c.male_turns) == (3, 95.0, 40.0, 40.0, 2, 2)
    assert c.female_share == 0.5 and c.median_turn_s == 20.0  # the files' medians: 20 and 20
    low, high = c.intervals["female_share"]
    assert 0.25 <= low < 0.5 < high <= 0.75  # a draw of the first file alone gives 0.75
    d = c.to_dict()
    assert d["female_turns_low"] <= 2 <= d["female_turns_high"] and d["female_s_low"] < 40 < d["female_s_high"]
    none = CollectionSummary.of([files[2]])
    assert none.female_share is None and none.intervals["female_share"] is None and none.median_turn_s is None


def test_inputs_of_one_name_in_two_folders_get_two_timelines(tmp_path, female_clip, male_clip):
    for folder, clip in (("a", female_clip), ("b", male_clip)):
        (tmp_path / folder).mkdir()
        sf.write(tmp_path / folder / "x.wav", clip, 16000)
    out = tmp_path / "timelines"
    assert main(["segment", str(tmp_path / "a" / "x.wav"), str(tmp_path / "b" / "x.wav"), "--out", str(out)]) == 0
    assert sorted(p.name for p in out.iterdir()) == ["collection.json", "summary.csv", "x-2.csv", "x.csv"]
    assert (out / "x.csv").read_text() != (out / "x-2.csv").read_text()
