"""Running one training on several processes (``torchrun``): which rank this is, and agreeing.

A plain ``photoscribe train`` is a world of one and never touches ``torch.distributed``.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist

from photoscribe.core.captioning.device import pick_device

TRACE_ENV = "PHOTOSCRIBE_RANK_TRACE"


@dataclass(frozen=True)
class Ranks:
    """This process's place in the run: ``rank`` of ``world``, on local GPU ``local_rank``."""

    rank: int = 0
    world: int = 1
    local_rank: int = 0
    local_world: int = 1  # processes on this machine

    @property
    def one_machine(self) -> bool:
        """Whether every rank runs on this machine (and so sees rank 0's feature cache)."""
        return self.local_world == self.world

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
        return bool(self.from_main(float(flag), device))

    def from_main(self, value: float, device: torch.device) -> float:
        """Rank 0's ``value`` on every rank (the validation score a plateau schedule steps on)."""
        if self.world == 1:
            return value
        shared = torch.tensor([value], dtype=torch.float64, device=device)
        dist.broadcast(shared, 0)
        return float(shared.item())

    def trace(self, event: str, **fields: Any) -> None:
        """Debug hook: with ``$PHOTOSCRIBE_RANK_TRACE`` naming a folder, append ``event`` and
        ``fields`` as one JSON line to ``rank<N>.jsonl`` there (what each rank trained on, its
        learning rate, what it saved); without it, nothing."""
        folder = os.environ.get(TRACE_ENV)
        if not folder:
            return
        line = json.dumps({"event": event, "rank": self.rank, "world": self.world, **fields})
        with (Path(folder) / f"rank{self.rank}.jsonl").open("a", encoding="utf-8") as out:
            out.write(line + "\n")

    def barrier(self) -> None:
        if self.world > 1:
            dist.barrier()

    def finish(self) -> None:
        """Wait for every rank (rank 0 may still be writing the final model), then leave the process
        group. A rank that exited with the group still open could abort in gloo's teardown
        ("terminate called without an active exception") while the others were finishing."""
        if self.world > 1 and dist.is_initialized():
            dist.barrier()
            dist.destroy_process_group()


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
    local_world = int(os.environ.get("LOCAL_WORLD_SIZE", str(world)))
    return Ranks(dist.get_rank(), world, local, local_world), device
