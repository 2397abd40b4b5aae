"""Helpers shared by the benchmark scripts (run as ``python bench/NAME.py``, so importable as ``common``)."""

from __future__ import annotations

import os
import platform
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # the search benchmarks use cpu_name() without loading torch
    import torch


def cpu_name() -> str:
    """The CPU model ("Intel(R) Xeon(R) ..."), or the architecture where it cannot be read."""
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as fh:
            cpu = next(line.split(":", 1)[1].strip() for line in fh if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    return cpu


def machine(device: torch.device) -> str:
    """The machine in one line, for the benchmark tables: GPU if any, cores, CPU model, torch."""
    import torch

    cpu = cpu_name()
    text = (
        f"{os.cpu_count()} cores ({cpu}), torch {torch.__version__}, {torch.get_num_threads()} torch threads"
    )
    if device.type == "cuda":
        text = f"{torch.cuda.get_device_name(device)}; {text}"
    return text


def optimize_bulk_load(library: Any) -> None:
    """After a bulk insert: merge the FTS index's segments and gather the planner's statistics."""
    with library.engine.connect() as conn:
        conn.exec_driver_sql("INSERT INTO captions_fts(captions_fts) VALUES ('optimize')")
        conn.exec_driver_sql("ANALYZE")
        conn.commit()
