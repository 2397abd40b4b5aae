"""Running one training on several processes (``torchrun``): which rank this is, and agreeing.

A plain ``photoscribe train`` is a world of one and never touches ``torch.distributed``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist

from photoscribe.core.device import pick_device


@dataclass(frozen=True)
class Ranks:
    """This process's place in the run: ``rank`` of ``world``, on local GPU ``local_rank``."""

    rank: int = 0
    world: int = 1
    local_rank: int = 0

    @property
    def main(self) -> bool:
        """Rank 0 validates, saves checkpoints and reports progress."""
        return self.rank == 0

    def share(self, pairs: list[tuple[int, int]]) -> list[tuple[int, int]]:
        """This rank's share of an epoch's pairs: the same number on every rank (a rank with one
        batch more would wait forever for the others' gradients), so up to ``world - 1`` pairs sit out."""
        if self.world == 1:
            return pairs
        return pairs[self.rank : len(pairs) - len(pairs) % self.world : self.world]

    def agree(self, flag: bool, device: torch.device) -> bool:
        """Rank 0's ``flag`` on every rank (whether to stop early)."""
        if self.world == 1:
            return flag
        shared = torch.tensor([int(flag)], device=device)
        dist.broadcast(shared, 0)
        return bool(shared.item())

    def barrier(self) -> None:
        if self.world > 1:
            dist.barrier()


def setup_distributed(device_pref: str) -> tuple[Ranks, torch.device]:
    """Join the process group ``torchrun`` describes in the environment, if any, and pick the device."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return Ranks(), pick_device(device_pref)
    local = int(os.environ.get("LOCAL_RANK", "0"))
    use_cuda = torch.cuda.is_available() and device_pref in ("auto", "cuda")
    if not dist.is_initialized():
        dist.init_process_group("nccl" if use_cuda else "gloo")
    if use_cuda:
        torch.cuda.set_device(local)
    device = torch.device("cuda", local) if use_cuda else torch.device("cpu")
    return Ranks(dist.get_rank(), world, local), device
