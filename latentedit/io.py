"""Atomic file writes: a file is either absent or complete, never half-written."""

import io
import json
import os
import tempfile
import zipfile
from pathlib import Path

import numpy as np

from .errors import DamagedFileError


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def atomic_write_bytes(path, data: bytes) -> Path:
    """Write `data` to `path` through a temporary file in the same folder and a rename."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, path)
    except BaseException as e:
        if os.path.exists(tmp):
            os.unlink(tmp)
        if isinstance(e, OSError) and e.filename is None:  # a full disk fails in write(): say which file
            raise OSError(e.errno, e.strerror, str(path)) from e
        raise
    return path


def atomic_write_text(path, text: str) -> Path:
    return atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_json(path, obj) -> Path:
    return atomic_write_text(path, json.dumps(obj, indent=2, sort_keys=True) + "\n")


def atomic_save_npz(path, **arrays) -> Path:
    """Save arrays as an uncompressed .npz atomically (byte-identical for identical arrays)."""
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    return atomic_write_bytes(path, buf.getvalue())


def load_npz(path, hint: str = "delete it and run the stage that wrote it again") -> dict:
    """Load an .npz without pickle into a plain dict of arrays.

    A truncated or foreign file raises DamagedFileError naming it (with `hint`); a missing one
    FileNotFoundError.
    """
    try:
        with np.load(path, allow_pickle=False) as f:
            return {k: f[k] for k in f.files}
    except FileNotFoundError:
        raise
    except (zipfile.BadZipFile, EOFError, ValueError, KeyError, OSError) as e:
        reason = f"{type(e).__name__}: {e}".split("\n")[0][:120]
        raise DamagedFileError(f"{path} is damaged or truncated ({reason}); {hint}") from None
