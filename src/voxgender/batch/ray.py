"""The batch job on a Ray cluster: Ray Data reads the list of inputs, model actors (a class-based
``map_batches`` UDF, one CPU and one torch thread each) turn paths into records, and Ray Data
writes them as part files (Parquet or JSON lines) into the output folder.

Resume works as for the local engine: inputs with a record in the output folder are skipped and
the new run adds its parts beside the old ones. Inputs and output must be on storage every node
sees. Needs the ``dist`` extra (``pip install 'voxgender[dist]'``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

import pyarrow as pa

from voxgender.batch.local import BatchJob, FileWorker, pending_inputs, summarise
from voxgender.batch.output import output_kind, read_results, records_table
from voxgender.errors import VoxgenderError
from voxgender.io.progress import say
from voxgender.runtime import one_thread

FILES_PER_BATCH = 4


class RayFileWorker:
    """Ray Data actor: loads the model once, then maps batches of paths to result records."""

    def __init__(self, job: BatchJob) -> None:
        one_thread()
        self.job = job
        self.worker = FileWorker(job)

    def __call__(self, batch: pa.Table) -> pa.Table:
        return records_table([self.worker(p) for p in batch.column("path").to_pylist()], self.job.task)


def run_ray_batch(paths: Sequence[str], job: BatchJob, out: str | Path, workers: int, resume: bool = False,
                  address: str | None = None) -> dict[str, Any]:
    """Run ``job`` on Ray with ``workers`` actors; connect to ``address`` ('auto' = the running
    cluster) or start a local instance. Returns the summary of everything ``out`` holds."""
    try:
        import ray
    except ImportError:
        raise VoxgenderError("--engine ray needs Ray: pip install 'voxgender[dist]'") from None
    kind = output_kind(out)
    todo = pending_inputs(paths, out, resume)
    if todo:
        if not ray.is_initialized():
            ray.init(address=address, include_dashboard=False, **({} if address else {"num_cpus": workers}))
        ds = ray.data.from_items([{"path": p} for p in todo])
        ds = ds.map_batches(RayFileWorker, fn_constructor_kwargs={"job": job}, batch_size=FILES_PER_BATCH,
                            batch_format="pyarrow", concurrency=workers, num_cpus=1)
        target = str(Path(out).resolve())
        if kind == "parquet":
            ds.write_parquet(target)
        else:
            ds.write_json(target)
    else:
        say("batch: every input is done already")
    return summarise(read_results(out), job.task)
