"""Which torch build ``scripts/bootstrap.sh`` installs: CPU-only, CUDA, or PyPI's default.

Usage:
    python3 scripts/torch_choice.py [--torch auto|cpu|cuda|pypi] [--no-probe]
    python3 scripts/torch_choice.py --installed

Prints one line for the shell, ``KIND VARIANT INDEX_URL`` (``cpu cpu https://download.pytorch.org/whl/cpu``,
``cuda cu128 https://download.pytorch.org/whl/cu128``, or ``pypi - -``), and at most one line of
explanation on stderr. ``--installed`` prints the build of the torch already in this environment
(``cpu``, ``cu128``, or ``none``), read from ``torch/version.py`` without importing torch.

``auto`` picks the CPU-only build on a machine without an NVIDIA GPU (torch 2.13.0's CPU wheel:
192 MB to download, 0.7 GB installed; PyPI's torch for Linux is the CUDA build, which with its
nvidia-* and triton packages is about 3.3 GB to download and 5.3 GB installed) and the CUDA build on one with, the newest CUDA variant PyTorch publishes that
the driver supports. Both come from PyTorch's own wheel indexes, as PyTorch's install page
documents (``pip install torch torchvision --index-url https://download.pytorch.org/whl/cpu``),
torch and torchvision together from the same index, so they are always the same build. When that
index cannot be reached, PyPI's torch is used instead, with one line saying so.

Standard library only: it runs before anything is installed. The GPU detector and the index
probe are parameters, so the choice is tested with fakes (``tests/unit/test_torch_choice.py``).
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import re
import shutil
import subprocess
import sys
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

# PyTorch's wheel indexes; PHOTOSCRIBE_TORCH_INDEX names a mirror of them (its cpu/, cu128/ ... folders).
INDEX = os.environ.get("PHOTOSCRIBE_TORCH_INDEX", "https://download.pytorch.org/whl").rstrip("/")
# The CUDA variants PyTorch publishes for the torch pinned in constraints.txt (2.10 and later:
# CUDA 12.6, 12.8 and 13.0), newest first; update together with constraints.txt.
CUDA_VARIANTS = ((13, 0), (12, 8), (12, 6))
# The oldest Linux driver each CUDA release runs on (NVIDIA's CUDA toolkit release notes, table 3):
# used when nvidia-smi is missing and only /proc/driver/nvidia/version gives the driver version.
DRIVER_FOR_CUDA = {(13, 0): 580, (12, 8): 570, (12, 6): 560}
CHOICES = ("auto", "cpu", "cuda", "pypi")


@dataclass(frozen=True)
class Gpu:
    """An NVIDIA driver on this machine; ``cuda`` is the newest CUDA it supports, when known."""

    cuda: tuple[int, int] | None


@dataclass(frozen=True)
class Choice:
    kind: str  # "cpu", "cuda" or "pypi"
    variant: str | None = None  # "cpu", "cu128"; None for PyPI
    note: str = ""

    @property
    def index_url(self) -> str | None:
        return f"{INDEX}/{self.variant}" if self.variant else None

    def line(self) -> str:
        return f"{self.kind} {self.variant or '-'} {self.index_url or '-'}"


def _run(argv: list[str]) -> str | None:
    try:
        return subprocess.run(argv, capture_output=True, text=True, timeout=20, check=True).stdout
    except (OSError, subprocess.SubprocessError):
        return None


def detect_gpu(
    proc_version: Path = Path("/proc/driver/nvidia/version"),
    run: Callable[[list[str]], str | None] = _run,
    which: Callable[[str], str | None] = shutil.which,
) -> Gpu | None:
    """The NVIDIA GPU of this machine: ``nvidia-smi`` (its "CUDA Version: 12.8"), else the kernel
    driver's ``/proc/driver/nvidia/version``; None when there is neither."""
    if which("nvidia-smi"):
        out = run(["nvidia-smi"])
        if out is not None:
            match = re.search(r"CUDA Version:\s*(\d+)\.(\d+)", out)
            return Gpu((int(match.group(1)), int(match.group(2))) if match else None)
    try:
        text = proc_version.read_text()
    except OSError:
        return None
    match = re.search(r"Kernel Module(?: for \S+)?\s+(\d+)\.", text)
    if not match:
        return Gpu(None)
    driver = int(match.group(1))
    supported = [cuda for cuda, needs in DRIVER_FOR_CUDA.items() if driver >= needs]
    return Gpu(max(supported) if supported else (0, 0))


def _variant(cuda: tuple[int, int]) -> str:
    return f"cu{cuda[0]}{cuda[1]}"


def choose(requested: str, gpu: Gpu | None) -> Choice:
    """The build for ``requested`` (auto, cpu, cuda, pypi) on a machine with ``gpu`` (None: no NVIDIA GPU)."""
    if requested not in CHOICES:
        raise ValueError(f"--torch must be one of {', '.join(CHOICES)}, not {requested!r}")
    if requested == "pypi":
        return Choice("pypi")
    if requested == "cpu" or (requested == "auto" and gpu is None):
        return Choice("cpu", "cpu")
    newest = _variant(CUDA_VARIANTS[0])
    if gpu is None:  # --torch cuda on a machine without a GPU: as asked
        return Choice("cuda", newest, "no NVIDIA GPU found; installing the CUDA build as asked")
    if gpu.cuda is None:  # a driver whose CUDA version could not be read
        return Choice("cuda", newest)
    fitting = [cuda for cuda in CUDA_VARIANTS if cuda <= gpu.cuda]
    if fitting:
        return Choice("cuda", _variant(fitting[0]))
    oldest = ".".join(map(str, CUDA_VARIANTS[-1]))
    if requested == "cuda":
        return Choice(
            "cuda",
            _variant(CUDA_VARIANTS[-1]),
            f"the NVIDIA driver is older than CUDA {oldest} needs; update the driver or the GPU will not be used",
        )
    return Choice(
        "cpu",
        "cpu",
        f"the NVIDIA driver is older than CUDA {oldest} needs: installing the CPU build (update the driver, "
        "then run scripts/bootstrap.sh --torch cuda)",
    )


def index_reachable(url: str, timeout: float = 5.0) -> bool:
    """Whether PyTorch's index answers (its page for torch), within ``timeout`` seconds.

    A ``file://`` mirror (what pip reads as an index too) counts when it has a ``torch`` folder.
    """
    parsed = urllib.parse.urlparse(url)
    if parsed.scheme == "file":
        return (Path(urllib.request.url2pathname(parsed.path)) / "torch").is_dir()
    try:
        with urllib.request.urlopen(f"{url}/torch/", timeout=timeout) as response:
            return bool(200 <= response.status < 400)
    except (OSError, urllib.error.URLError, ValueError):
        return False


def resolve(
    requested: str,
    gpu: Gpu | None,
    reachable: Callable[[str], bool] = index_reachable,
) -> Choice:
    """:func:`choose`, then PyPI instead when PyTorch's index cannot be reached."""
    choice = choose(requested, gpu)
    if choice.index_url is None or reachable(choice.index_url):
        return choice
    return Choice(
        "pypi",
        None,
        f"photoscribe: {INDEX} cannot be reached, so torch comes from PyPI instead of the {choice.variant} "
        "build (on Linux PyPI's torch is the CUDA build: about 3.3 GB to download, 5.3 GB installed)",
    )


def installed_variant(find_spec: Callable[[str], object | None] = importlib.util.find_spec) -> str:
    """The build of the torch installed here (``cpu``, ``cu128``), or ``none``; torch is not imported."""
    spec = find_spec("torch")
    origin = getattr(spec, "origin", None)
    if not origin:
        return "none"
    try:
        text = (Path(origin).parent / "version.py").read_text()
    except OSError:
        return "none"
    match = re.search(r"^cuda[^=]*=\s*['\"](\d+)\.(\d+)", text, re.MULTILINE)
    return f"cu{match.group(1)}{match.group(2)}" if match else "cpu"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--torch", choices=CHOICES, default="auto", help="the build (default: auto)")
    parser.add_argument("--no-probe", action="store_true", help="do not check that PyTorch's index answers")
    parser.add_argument(
        "--installed", action="store_true", help="print the build of the torch installed here"
    )
    args = parser.parse_args(argv)
    if args.installed:
        print(installed_variant())
        return 0
    gpu = detect_gpu()
    choice = resolve(args.torch, gpu, (lambda url: True) if args.no_probe else index_reachable)
    if choice.note:
        print(choice.note, file=sys.stderr)
    print(choice.line())
    return 0


if __name__ == "__main__":
    sys.exit(main())
