"""Binary encodings of the numeric columns: pooled features and attention maps."""

from __future__ import annotations

import io
import zlib

import numpy as np

from photoscribe.core.errors import LibraryError

# Refuse absurd blobs (a corrupt row must not make us allocate gigabytes).
_MAX_ATTENTION_BYTES = 64 * 1024 * 1024


def encode_feature(feature: np.ndarray) -> bytes:
    """L2-normalise a 1-D feature vector and store it as little-endian float16 bytes.

    Raises:
        LibraryError: the vector is not 1-D, is empty, or is all zeros / not finite.
    """
    vec = np.asarray(feature, dtype=np.float32).reshape(-1) if np.ndim(feature) <= 1 else None
    if vec is None or vec.size == 0:
        raise LibraryError(f"a feature must be a non-empty 1-D vector, got shape {np.shape(feature)}")
    norm = float(np.linalg.norm(vec))
    if not np.isfinite(norm) or norm == 0.0:
        raise LibraryError("a feature vector must be finite and non-zero; check the encoder output")
    return (vec / norm).astype("<f2").tobytes()


def decode_feature(blob: bytes) -> np.ndarray:
    """The float32 vector stored by :func:`encode_feature`."""
    return np.frombuffer(blob, dtype="<f2").astype(np.float32)


def encode_attention(alphas: np.ndarray) -> bytes:
    """Compress per-word attention maps, e.g. shape ``(T, H, W)`` or ``(T, P)``, as float16 + zlib."""
    buf = io.BytesIO()
    np.save(buf, np.ascontiguousarray(np.asarray(alphas, dtype=np.float16)), allow_pickle=False)
    return zlib.compress(buf.getvalue(), level=6)


def decode_attention(blob: bytes) -> np.ndarray:
    """The float16 array stored by :func:`encode_attention`.

    Raises:
        LibraryError: the blob is not a valid compressed attention array.
    """
    try:
        raw = zlib.decompressobj().decompress(blob, _MAX_ATTENTION_BYTES)
        return np.load(io.BytesIO(raw), allow_pickle=False)
    except (zlib.error, ValueError, OSError) as exc:
        raise LibraryError(f"stored attention data is corrupt ({exc}); re-caption the photo") from exc
