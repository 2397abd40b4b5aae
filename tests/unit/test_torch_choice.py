"""The torch build scripts/bootstrap.sh installs, chosen for the machine (with a fake GPU detector),
and bootstrap.sh's own steps, run for real with a recording stand-in for the environment's Python."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path
from types import ModuleType, SimpleNamespace

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _load() -> ModuleType:
    spec = importlib.util.spec_from_file_location("torch_choice", ROOT / "scripts" / "torch_choice.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules["torch_choice"] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


tc = _load()
NVIDIA_SMI = """
+-----------------------------------------------------------------------------------------+
| NVIDIA-SMI 570.86.15              Driver Version: 570.86.15      CUDA Version: 12.8     |
|-----------------------------------------+------------------------+----------------------+
"""


@pytest.mark.parametrize(
    ("requested", "gpu", "expected"),
    [
        ("auto", None, "cpu cpu https://download.pytorch.org/whl/cpu"),
        ("auto", tc.Gpu((12, 8)), "cuda cu128 https://download.pytorch.org/whl/cu128"),
        ("auto", tc.Gpu((12, 9)), "cuda cu128 https://download.pytorch.org/whl/cu128"),
        ("auto", tc.Gpu((13, 1)), "cuda cu130 https://download.pytorch.org/whl/cu130"),
        ("auto", tc.Gpu(None), "cuda cu130 https://download.pytorch.org/whl/cu130"),
        ("auto", tc.Gpu((11, 8)), "cpu cpu https://download.pytorch.org/whl/cpu"),  # driver too old
        ("cpu", tc.Gpu((12, 8)), "cpu cpu https://download.pytorch.org/whl/cpu"),
        ("cuda", None, "cuda cu130 https://download.pytorch.org/whl/cu130"),
        ("cuda", tc.Gpu((12, 6)), "cuda cu126 https://download.pytorch.org/whl/cu126"),
        ("pypi", tc.Gpu((12, 8)), "pypi - -"),
        ("pypi", None, "pypi - -"),
    ],
)
def test_choice_for_the_machine(requested: str, gpu: object, expected: str) -> None:
    if "download.pytorch.org" not in tc.INDEX:
        pytest.skip("PHOTOSCRIBE_TORCH_INDEX is set")
    assert tc.choose(requested, gpu).line() == expected


def test_notes_say_why() -> None:
    assert "older than CUDA 12.6" in tc.choose("auto", tc.Gpu((11, 8))).note
    assert "as asked" in tc.choose("cuda", None).note
    assert tc.choose("auto", None).note == ""
    with pytest.raises(ValueError, match="auto, cpu, cuda, pypi"):
        tc.choose("rocm", None)


def test_unreachable_index_falls_back_to_pypi_with_one_line() -> None:
    asked: list[str] = []

    def unreachable(url: str) -> bool:
        asked.append(url)
        return False

    choice = tc.resolve("auto", None, unreachable)
    assert choice.line() == "pypi - -"
    assert asked == [f"{tc.INDEX}/cpu"]
    assert "cannot be reached" in choice.note and "\n" not in choice.note
    assert tc.resolve("auto", None, lambda url: True).kind == "cpu"
    assert tc.resolve("pypi", None, unreachable).note == ""


def test_a_local_index_folder_counts_as_reachable(tmp_path: Path) -> None:
    (tmp_path / "cpu" / "torch").mkdir(parents=True)
    (tmp_path / "cpu" / "torch" / "index.html").write_text("<a href='torch-2.14.1+cpu.whl'>torch</a>")
    assert tc.index_reachable((tmp_path / "cpu").as_uri())
    assert not tc.index_reachable((tmp_path / "cu128").as_uri())


def test_gpu_detection_from_nvidia_smi() -> None:
    gpu = tc.detect_gpu(
        Path("/nonexistent"), run=lambda argv: NVIDIA_SMI, which=lambda name: "/usr/bin/nvidia-smi"
    )
    assert gpu == tc.Gpu((12, 8))


def test_gpu_detection_from_the_kernel_driver(tmp_path: Path) -> None:
    proc = tmp_path / "version"
    proc.write_text(
        "NVRM version: NVIDIA UNIX Open Kernel Module for x86_64  580.65.06  Release Build  (dvs-builder)\n"
        "GCC version:  gcc version 12.2.0 (Debian 12.2.0-14)\n"
    )
    no_smi = {"which": lambda name: None}
    assert tc.detect_gpu(proc, **no_smi) == tc.Gpu((13, 0))
    proc.write_text(
        "NVRM version: NVIDIA UNIX x86_64 Kernel Module  565.57.01  Thu Oct 10 12:29:05 UTC 2024\n"
    )
    assert tc.detect_gpu(proc, **no_smi) == tc.Gpu((12, 6))
    # nvidia-smi present but failing (no device): the driver file decides; neither: no GPU.
    failing = {"run": lambda argv: None, "which": lambda name: "/usr/bin/nvidia-smi"}
    assert tc.detect_gpu(proc, **failing) == tc.Gpu((12, 6))
    assert tc.detect_gpu(tmp_path / "absent", **failing) is None
    assert tc.detect_gpu(tmp_path / "absent", **no_smi) is None


def test_installed_build_is_read_without_importing_torch(tmp_path: Path) -> None:
    package = tmp_path / "torch"
    package.mkdir()
    spec = SimpleNamespace(origin=str(package / "__init__.py"))
    (package / "version.py").write_text("__version__ = '2.14.1+cu128'\ncuda: Optional[str] = '12.8'\n")
    assert tc.installed_variant(lambda name: spec) == "cu128"
    (package / "version.py").write_text("__version__ = '2.14.1+cpu'\ncuda: Optional[str] = None\n")
    assert tc.installed_variant(lambda name: spec) == "cpu"
    assert tc.installed_variant(lambda name: None) == "none"


# --------------------------------------------------------------------------- bootstrap.sh itself

FAKE_PYTHON = """#!/usr/bin/env bash
# Stands in for the environment's Python: runs scripts/torch_choice.py for real, records pip.
if [ "$1" = scripts/torch_choice.py ]; then
  if [ "$2" = --installed ]; then echo "${FAKE_INSTALLED:-none}"; exit 0; fi
  exec "$REAL_PYTHON" "$@"
fi
echo "$*" >> "$PIP_LOG"
if [ "$*" = "-m pip list --format=freeze" ]; then printf 'nvidia-cublas==13.1\\ntriton==3.8.0\\nnumpy==2.0\\n'; fi
case "$*" in *--index-url*) exit "${FAKE_INDEX_FAILS:-0}" ;; esac
"""


def _bootstrap(tmp_path: Path, *args: str, **env: str) -> tuple[subprocess.CompletedProcess[str], list[str]]:
    venv = tmp_path / "venv"
    (venv / "bin").mkdir(parents=True, exist_ok=True)
    python = venv / "bin" / "python"
    python.write_text(FAKE_PYTHON)
    python.chmod(0o755)
    log = tmp_path / "pip.log"
    log.write_text("")
    index = tmp_path / "whl"
    (index / "cpu" / "torch").mkdir(parents=True, exist_ok=True)
    (index / "cpu" / "torch" / "index.html").write_text("torch")
    environ = {
        **os.environ,
        "VENV": str(venv),
        "REAL_PYTHON": sys.executable,
        "PIP_LOG": str(log),
        "PHOTOSCRIBE_TORCH_INDEX": index.as_uri(),
        "PATH": "/usr/bin:/bin",  # no nvidia-smi
        **env,
    }
    done = subprocess.run(
        ["bash", str(ROOT / "scripts" / "bootstrap.sh"), *args],
        capture_output=True,
        text=True,
        env=environ,
        timeout=60,
    )
    return done, log.read_text().splitlines()


@pytest.mark.slow
@pytest.mark.skipif(Path("/proc/driver/nvidia").exists(), reason="this machine has an NVIDIA driver")
def test_bootstrap_installs_the_cpu_build_from_pytorchs_index(tmp_path: Path) -> None:
    done, pip = _bootstrap(tmp_path)
    assert done.returncode == 0, done.stderr
    cpu_index = (tmp_path / "whl" / "cpu").as_uri()
    assert pip[1] == f"-m pip install --quiet -c constraints.txt --index-url {cpu_index} torch torchvision"
    assert pip[-1] == "-m pip install --quiet -c constraints.txt -e .[semantic]"


@pytest.mark.slow
def test_bootstrap_replaces_a_cuda_build_and_its_libraries(tmp_path: Path) -> None:
    done, pip = _bootstrap(tmp_path, "--torch", "cpu", FAKE_INSTALLED="cu130")
    assert done.returncode == 0, done.stderr
    assert "-m pip uninstall --quiet --yes torch torchvision nvidia-cublas triton" in pip
    assert "replacing the cu130 build of torch with the cpu build" in done.stdout


@pytest.mark.slow
def test_bootstrap_falls_back_to_pypi(tmp_path: Path) -> None:
    unreachable = (tmp_path / "nowhere").as_uri()
    done, pip = _bootstrap(tmp_path, "--dev", "--torch=cpu", PHOTOSCRIBE_TORCH_INDEX=unreachable)
    assert done.returncode == 0, done.stderr
    assert [line for line in done.stderr.splitlines() if line] == [
        f"photoscribe: {unreachable} cannot be reached, so torch comes from PyPI instead of the cpu build "
        "(on Linux PyPI's torch is the CUDA build: about 3.3 GB to download, 5.3 GB installed)"
    ]
    assert not any("--index-url" in line for line in pip)
    assert pip[-1] == "-m pip install --quiet -c constraints.txt -e .[dev]"
    failed, pip = _bootstrap(tmp_path, "--torch", "cpu", FAKE_INDEX_FAILS="1")
    assert failed.returncode == 0 and "installing it from PyPI instead" in failed.stderr
    assert pip[-1] == "-m pip install --quiet -c constraints.txt -e .[semantic]"


@pytest.mark.slow
def test_bootstrap_refuses_an_unknown_build(tmp_path: Path) -> None:
    done, pip = _bootstrap(tmp_path, "--torch", "rocm")
    assert done.returncode == 2 and "--torch must be auto, cpu, cuda or pypi" in done.stderr
    assert pip == []
    done, pip = _bootstrap(tmp_path, "--torch")
    assert done.returncode == 2 and "--torch needs auto, cpu, cuda or pypi" in done.stderr
    assert pip == []
