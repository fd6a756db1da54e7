"""Immutable, content-addressed archive of every file a municipality sends.

Files are stored under their sha256 (``raw/<aa>/<sha256>``), never under a name the sender chose,
so a hostile file name cannot escape the folder and two uploads of the same bytes share one copy.
Bytes are written to a temporary file, fsynced and renamed into place: a crash never leaves a
half-written file under a final name. Existing files are never rewritten.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from pathlib import Path


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def path_for(raw_root: Path, sha256: str) -> Path:
    if len(sha256) != 64 or any(c not in "0123456789abcdef" for c in sha256):
        raise ValueError("not a sha256 hex digest")
    return raw_root / sha256[:2] / sha256


def store(raw_root: Path, data: bytes) -> tuple[str, Path]:
    """Store ``data`` durably; return its sha256 and path. Idempotent for identical bytes."""
    digest = sha256_hex(data)
    target = path_for(raw_root, digest)
    if target.exists():
        if sha256_hex(target.read_bytes()) == digest:
            return digest, target
        # The archived copy rotted (or was tampered with): identical bytes sent again repair it.
        target.chmod(0o640)
        target.unlink()
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".incoming-")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, 0o440)
        os.replace(tmp, target)
        dir_fd = os.open(target.parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return digest, target


def load(raw_root: Path, sha256: str) -> bytes:
    """Read archived bytes back, verifying the checksum (detects tampering or bit rot)."""
    data = path_for(raw_root, sha256).read_bytes()
    if sha256_hex(data) != sha256:
        raise OSError(f"checksum mismatch for archived file {sha256[:12]}…")
    return data
