"""Helpers shared by the benchmark scripts (run as ``python bench/NAME.py``, so importable as ``common``)."""

from __future__ import annotations

import os
import platform

import torch


def machine(device: torch.device) -> str:
    """The machine in one line, for the benchmark tables: GPU if any, cores, CPU model, torch."""
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as fh:
            cpu = next(line.split(":", 1)[1].strip() for line in fh if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    text = (
        f"{os.cpu_count()} cores ({cpu}), torch {torch.__version__}, {torch.get_num_threads()} torch threads"
    )
    if device.type == "cuda":
        text = f"{torch.cuda.get_device_name(device)}; {text}"
    return text
