"""Data-parallel training across processes started by ``torchrun`` (gloo on CPU, nccl on GPU).

Every process trains on its own random batches; DistributedDataParallel averages the gradients,
so the effective batch is ``world_size × batch_size``. Only rank 0 writes files.
"""

from __future__ import annotations

import atexit
import os
from dataclasses import dataclass

import torch
import torch.distributed as dist


@dataclass(frozen=True)
class World:
    """This process's place among the training processes."""

    rank: int = 0
    size: int = 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    def wrap(self, net: torch.nn.Module) -> torch.nn.Module:
        """The module to train: DDP-wrapped when there is more than one process."""
        if self.size == 1:
            return net
        return torch.nn.parallel.DistributedDataParallel(net)


def join() -> World:
    """Join the process group described by torchrun's environment (a single process otherwise).

    The group is made once per process and destroyed at its exit, so that several runs in one
    process (the members of ``train --members``) share it: making a group anew on the same port
    right after destroying one can hang."""
    size = int(os.environ.get("WORLD_SIZE", "1"))
    if size == 1:
        return World()
    if not dist.is_initialized():
        dist.init_process_group(backend="nccl" if torch.cuda.is_available() else "gloo")
        atexit.register(dist.destroy_process_group)
    return World(dist.get_rank(), dist.get_world_size())


def wait_for_all(world: World) -> None:
    """Return once every process has finished the run."""
    if world.size > 1:
        dist.barrier()
