"""The batch job on a local Ray instance (Ray Data, model actors); skipped without Ray."""

from collections import Counter

import pytest
import soundfile as sf
from recordings import conversation

from voxgender.batch.local import BatchJob, run_batch
from voxgender.batch.output import read_results

ray = pytest.importorskip("ray", reason="Ray is not installed (pip install 'voxgender[dist]')")


@pytest.fixture(scope="module")
def local_ray():
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield
    ray.shutdown()


def test_segment_on_ray_resumes_a_run_and_writes_parquet(local_ray, tmp_path):
    from voxgender.batch.ray import run_ray_batch

    paths = []
    for i, label in enumerate(("female", "male", "female")):
        paths.append(str(tmp_path / f"{label}{i}.wav"))
        sf.write(paths[-1], conversation([(label, 3.0)], seed=i)[0], 16000)
    broken = tmp_path / "broken.wav"
    broken.write_bytes(b"RIFF....WAVEfmt garbage")
    out = tmp_path / "results.parquet"
    job = BatchJob("segment")
    run_batch(paths[:2], job, out, show_progress=False)  # a first run, stopped after two files
    summary = run_ray_batch([*paths, str(broken)], job, out, workers=2, resume=True)
    records = read_results(out)
    assert Counter(r["path"] for r in records) == Counter([*paths, str(broken)])
    by_path = {r["path"]: r for r in records}
    assert by_path[str(broken)]["error"].startswith(f"{broken}: not a decodable audio file")
    for path in paths:
        expected = "female" if "female" in path else "male"
        speech = [s for s in by_path[path]["segments"] if s["label"] != "nonspeech"]
        assert speech and all(s["label"] == expected for s in speech)
    assert summary["files"] == 4 and summary["failures"] == 1


def test_predict_on_ray_writes_json_lines(local_ray, tmp_path):
    from voxgender.batch.ray import run_ray_batch

    path = tmp_path / "male.wav"
    sf.write(path, conversation([("male", 2.0)], seed=7)[0], 16000)
    out = tmp_path / "results.jsonl"
    summary = run_ray_batch([str(path)], BatchJob("predict"), out, workers=1)
    (record,) = read_results(out)
    assert out.is_dir() and record["path"] == str(path) and record["label"] == "male"
    assert summary == {"files": 1, "failures": 0, "hours": round(record["duration_s"] / 3600, 4), "female_share": 0.0}
