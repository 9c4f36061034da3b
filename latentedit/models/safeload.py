"""Read model files without running code, and say so truthfully when a file would run code.

`torch.load(weights_only=True)` refuses pickled callables and classes outside its allowlist, but
its message changes between releases (torch 2.14: "Trying to load unsupported GLOBAL posix.system
whose module posix is blocked", "Unsupported global: GLOBAL eval was not an allowed global by
default", and for a plain protocol-4 pickle only "Unsupported operand 149"). `refused_global`
names the callable whatever the wording, by reading the file's pickle opcodes (never executing
them), so a refused file is reported as code-executing pickle data, not as "truncated".
Keras safe mode likewise refuses a model whose Lambda layer holds Python code (a ValueError that
mentions `safe_mode`); `keras_refusal` turns that into a refusal, not "damaged".
`read_torch`, `read_safetensors`, `is_safetensors` and `is_state_dict` are the one reader of each file
kind that every generator backend uses, each failure one `CheckpointError` line.
"""

from __future__ import annotations

import argparse
import io
import json
import pickle
import pickletools
import re
import warnings
import zipfile
from pathlib import Path

import torch

from latentedit.errors import CheckpointError, UnsafeFileError

# torch's wordings of a refused global, newest first; group 1 is the dotted name.
_REFUSAL_PATTERNS = (
    r"Trying to load unsupported GLOBAL (\S+) whose module \S+ is blocked",
    r"Unsupported global: GLOBAL (\S+) was not an allowed global",
    r"Trying to call reduce for unrecognized function (\S+)",
)
_STRING_OPS = {"SHORT_BINUNICODE", "BINUNICODE", "BINUNICODE8", "UNICODE", "SHORT_BINSTRING", "BINSTRING", "STRING"}
_GET_OPS = {"GET", "BINGET", "LONG_BINGET"}
_PUT_OPS = {"PUT", "BINPUT", "LONG_BINPUT"}
_QUIET_OPS = _PUT_OPS | {"MEMOIZE", "FRAME", "PROTO", "STOP", "MARK"}


def pickle_globals(data: bytes) -> list[str]:
    """Dotted names of the globals (callables, classes) every pickle in `data` refers to, in order.

    Reads opcodes only (pickletools.genops); STACK_GLOBAL names are recovered from the strings
    and memo entries pushed just before it. Only streams that open with a protocol 2-5 header are
    read (so random bytes are not taken for opcodes); stops quietly at the first malformed byte.
    """
    names: list[str] = []
    stream = io.BytesIO(data)
    while stream.tell() < len(data) - 1 and data[stream.tell()] == 0x80 and 2 <= data[stream.tell() + 1] <= 5:
        recent: list = []
        memo: dict = {}
        try:
            for op, arg, _ in pickletools.genops(stream):
                name = op.name
                if name in ("GLOBAL", "INST"):
                    names.append(str(arg).replace(" ", "."))
                elif name == "STACK_GLOBAL":
                    if len(recent) >= 2 and all(isinstance(x, str) for x in recent[-2:]):
                        names.append(f"{recent[-2]}.{recent[-1]}")
                    recent.append(None)
                elif name in _STRING_OPS:
                    recent.append(arg if isinstance(arg, str) else arg.decode("latin-1"))
                elif name in _GET_OPS:
                    recent.append(memo.get(arg))
                elif name in _PUT_OPS:
                    memo[arg] = recent[-1] if recent else None
                elif name == "MEMOIZE":
                    memo[len(memo)] = recent[-1] if recent else None
                elif name not in _QUIET_OPS:
                    recent.append(None)
        except Exception:  # noqa: BLE001 - a malformed stream ends the scan, it is not an answer
            break
    return names


def _allowed_globals() -> set[str]:
    try:
        from torch._weights_only_unpickler import _get_allowed_globals, _get_user_allowed_globals

        return set(_get_allowed_globals()) | set(_get_user_allowed_globals())
    except (ImportError, AttributeError):  # private API moved: treat torch's own names as safe
        return set()


def _pickle_streams(path: Path) -> list[bytes]:
    """The pickle byte streams of a file: data.pkl of a zip checkpoint, else the file itself."""
    try:
        with zipfile.ZipFile(path) as z:
            return [z.read(n) for n in z.namelist() if n.endswith(".pkl")]
    except (zipfile.BadZipFile, OSError, RuntimeError, KeyError, ValueError):
        pass
    try:
        return [path.read_bytes()]
    except OSError:
        return []


def refused_global(path, error: Exception | None = None) -> str | None:
    """The callable a refused file would have run, from torch's message or the file's opcodes."""
    text = str(error or "")
    for pattern in _REFUSAL_PATTERNS:
        found = re.search(pattern, text)
        if found:
            return found.group(1).rstrip(".")
    allowed = _allowed_globals()
    for data in _pickle_streams(Path(path)):
        for name in pickle_globals(data):
            if name not in allowed and not (name.startswith("torch.") and not allowed):
                return name
    return None


def refusal_message(path, name: str) -> str:
    """The one line said for a file whose pickle data would call `name`."""
    return (f"{path} refused: the file holds code-executing pickle data (it would call {name}); nothing was run. "
            "Use a file of plain tensors from a source you trust (torch.save(model.state_dict(), path))")


def torch_load(path, map_location="cpu"):
    """`torch.load(path, weights_only=True)`; UnsafeFileError when the file would run code.

    Other failures propagate unchanged for the caller to word (truncated, not a PyTorch file, ...).
    """
    try:
        with warnings.catch_warnings():  # "Detected pickle protocol 4 ...": the refusal below says more
            warnings.simplefilter("ignore", UserWarning)
            return torch.load(path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as e:
        name = refused_global(path, e)
        if name is not None:
            raise UnsafeFileError(refusal_message(path, name)) from None
        raise


def keras_refusal(error: BaseException, path) -> str | None:
    """The one line for a Keras load that safe mode refused (a Lambda layer's code), else None."""
    seen = set()
    while error is not None and id(error) not in seen:
        seen.add(id(error))
        text = str(error)
        if "safe_mode" in text or "arbitrary code execution" in text:
            found = re.search(r"deserialization of a `(\w+)` layer", text)
            layer = f"its {found.group(1)} layer holds" if found else "it holds"
            return (f"{path} refused: {layer} Python code, which Keras safe mode does not run; nothing was run. "
                    "Use a model without code layers from a source you trust")
        error = error.__cause__ or error.__context__
    return None


def read_torch(path: Path):
    """What a torch.save file holds, read with weights_only (argparse options allowed: rosinality's and
    GNR's training checkpoints carry them); one line when it cannot be read."""
    try:
        with torch.serialization.safe_globals([argparse.Namespace]):
            return torch_load(path)  # UnsafeFileError (a CheckpointError) when the pickle data would run code
    except CheckpointError:
        raise
    except Exception:  # noqa: BLE001 - any failure to read is one line
        raise CheckpointError(f"{path} is truncated or not a PyTorch file; download or save it again") from None


def is_safetensors(path: Path) -> bool:
    """A .safetensors name, or a file opening with its 8-byte header length and JSON."""
    with open(path, "rb") as f:
        head = f.read(9)
    return path.suffix == ".safetensors" or (len(head) > 8 and head[8:9] == b"{")


def read_safetensors(path: Path, tensors: bool = True) -> tuple[dict, dict]:
    """(tensors, metadata) of a .safetensors file (tensors empty when not asked for); one line when unreadable."""
    from safetensors import safe_open

    try:
        with safe_open(str(path), framework="pt") as f:
            return ({k: f.get_tensor(k) for k in f.keys()} if tensors else {}), (f.metadata() or {})
    except Exception as e:  # noqa: BLE001 - any failure to read is one line
        raise CheckpointError(f"{path} is truncated or not a safetensors file ({e})") from None


def saved_config(metadata: dict, fmt: str) -> dict | None:
    """The config JSON a latentedit safetensors file of format `fmt` carries, else None."""
    return json.loads(metadata["config"]) if metadata.get("format") == fmt else None


def is_state_dict(obj) -> bool:
    """A non-empty dict of name -> tensor."""
    return isinstance(obj, dict) and bool(obj) and all(isinstance(k, str) and torch.is_tensor(v) for k, v in obj.items())
