"""Read a foreign pickle (NVIDIA's stylegan2-ada .pkl) without running any of it.

pickle calls whatever callables a file names. This unpickler resolves only the names below, each
to a stand-in of our own, refuses every other global by name before anything is called, and
imports no module a file names (`torch_utils`, `dnnlib`, ...):

- `torch_utils.persistence._reconstruct_persistent_obj(meta)`: NVIDIA's persistent objects carry
  their module's source (`meta["module_src"]`) for `exec`; here one becomes a `Persistent`, its
  class name and saved state (init kwargs, parameters, buffers, submodules). The source never runs.
- `torch.storage._load_from_bytes(b)`: a storage torch.save'd into the pickle, read with
  `torch.load(weights_only=True)`; `torch._utils._rebuild_tensor_v2`, `_rebuild_parameter(_with_state)`
  and `torch._tensor._rebuild_from_type_v2` make plain tensors of such storages only.
- containers and numbers: `collections.OrderedDict`, builtins `set`/`frozenset`,
  `dnnlib.util.EasyDict` (read as a dict), numpy scalars and dtypes of numeric kinds.
"""

from __future__ import annotations

import io
import pickle
import re
import warnings
from collections import OrderedDict
from pathlib import Path

import numpy as np
import torch

from latentedit.errors import CheckpointError, UnsafeFileError

__all__ = ["Persistent", "safe_load"]


class Persistent:
    """A persistent object of NVIDIA's pickles as data: its class name and saved `__dict__`."""

    __slots__ = ("class_name", "state")

    def __init__(self, class_name: str, state: dict):
        self.class_name, self.state = class_name, state

    @property
    def init_kwargs(self) -> dict:
        return dict(self.state.get("_init_kwargs") or {})

    def children(self) -> dict[str, "Persistent"]:
        return {k: v for k, v in (self.state.get("_modules") or {}).items() if isinstance(v, Persistent)}

    def walk(self):
        """This object and every persistent submodule, depth first."""
        yield self
        for child in self.children().values():
            yield from child.walk()

    def tensors(self, prefix: str = "") -> dict[str, torch.Tensor]:
        """Parameters and persistent buffers by dotted name, as `nn.Module.state_dict()` names them."""
        skip = set(self.state.get("_non_persistent_buffers_set") or ())
        out = {prefix + k: v for k, v in (self.state.get("_parameters") or {}).items() if v is not None}
        out.update({prefix + k: v for k, v in (self.state.get("_buffers") or {}).items()
                    if v is not None and k not in skip})
        for name, child in self.children().items():
            out.update(child.tensors(f"{prefix}{name}."))
        return out


def _persistent(meta):
    if not isinstance(meta, dict) or meta.get("type") != "class" or not isinstance(meta.get("state"), dict):
        raise pickle.UnpicklingError("a persistent object without a class state")
    return Persistent(str(meta.get("class_name")), dict(meta["state"]))


class _Refused(Exception):
    def __init__(self, name):
        super().__init__(name)
        self.name = name


def _storage(data):
    if not isinstance(data, bytes):
        raise pickle.UnpicklingError("a storage that is not bytes")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            storage = torch.load(io.BytesIO(data), weights_only=True)
    except pickle.UnpicklingError as e:  # torch refused a global inside the storage's own pickle
        found = re.search(r"GLOBAL (\S+)|function (\S+)", str(e))
        raise _Refused(found.group(1) or found.group(2) if found else "a global inside a tensor storage") from None
    if not isinstance(storage, (torch.storage.TypedStorage, torch.UntypedStorage)):
        raise pickle.UnpicklingError(f"a storage that holds a {type(storage).__name__}")
    return storage


def _tensor(storage, offset, size, stride, requires_grad=False, hooks=None, metadata=None):
    if not isinstance(storage, (torch.storage.TypedStorage, torch.UntypedStorage)):
        raise pickle.UnpicklingError("a tensor whose storage is not one")
    return torch._utils._rebuild_tensor_v2(storage, int(offset), tuple(size), tuple(stride), False, OrderedDict())


def _parameter(data, *_):
    if not torch.is_tensor(data):
        raise pickle.UnpicklingError("a parameter that is not a tensor")
    return data


def _from_type(func, _type, args, _state):
    if func not in (_tensor, _parameter):
        raise pickle.UnpicklingError("a tensor rebuilt by an unknown function")
    return func(*args)


def _np_dtype(name, align=False, copy=True):
    dtype = np.dtype(str(name))
    if dtype.kind not in "biuf":
        raise pickle.UnpicklingError(f"a numpy dtype {name!r} that is not a number")
    return np.dtype(dtype, copy=True)


def _np_scalar(dtype, data=None):
    if not isinstance(dtype, np.dtype) or dtype.kind not in "biuf" or not isinstance(data, bytes):
        raise pickle.UnpicklingError("a numpy scalar that is not a number")
    return np.frombuffer(data, dtype=dtype)[0].item()


class _EasyDict(dict):
    """dnnlib.util.EasyDict read as a plain dict (its code is not needed, nor imported)."""


_ALLOWED = {
    "torch_utils.persistence._reconstruct_persistent_obj": _persistent,
    "torch.storage._load_from_bytes": _storage,
    "torch._utils._rebuild_tensor_v2": _tensor,
    "torch._utils._rebuild_parameter": _parameter,
    "torch._utils._rebuild_parameter_with_state": _parameter,
    "torch._tensor._rebuild_from_type_v2": _from_type,
    "torch._tensor.Tensor": "Tensor",  # type markers of _rebuild_from_type_v2, not callable
    "torch.Tensor": "Tensor",
    "torch.nn.parameter.Parameter": "Parameter",
    "collections.OrderedDict": OrderedDict,
    "builtins.set": set,
    "builtins.frozenset": frozenset,
    "dnnlib.util.EasyDict": _EasyDict,
    "numpy.dtype": _np_dtype,
    "numpy.core.multiarray.scalar": _np_scalar,
    "numpy._core.multiarray.scalar": _np_scalar,
}


def refusal(where, name: str) -> str:
    """The one line said for a pickle that names a global outside the allowlist."""
    if name.startswith("dnnlib.tflib"):
        return (f"{where} is a TF1 StyleGAN pickle ({name}), which cannot be read without TensorFlow 1; "
                "convert it with NVIDIA's legacy.py (stylegan2-ada-pytorch) first and pass the converted .pkl")
    return (f"{where} refused: its pickle data would call {name}, which is not a tensor, a container or "
            "NVIDIA's persistent-object state; nothing was run")


class _Unpickler(pickle.Unpickler):
    def find_class(self, module, name):
        found = _ALLOWED.get(f"{module}.{name}")
        if found is None:
            raise _Refused(f"{module}.{name}")
        return found


def safe_load(source, where=None):
    """The object a pickle file (path or bytes) holds, read with the allowlist above.

    Raises UnsafeFileError naming the first global outside it (nothing was called), and
    CheckpointError for a file that is not a readable pickle.
    """
    where = where or ("pickle data" if isinstance(source, bytes) else str(source))
    data = source if isinstance(source, bytes) else Path(source).read_bytes()
    try:
        return _Unpickler(io.BytesIO(data)).load()
    except _Refused as e:
        raise (CheckpointError if e.name.startswith("dnnlib.tflib") else UnsafeFileError)(refusal(where, e.name)) from None
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError, RuntimeError, AttributeError, IndexError,
            KeyError, MemoryError) as e:
        reason = re.sub(r"\s+", " ", str(e)).strip()[:200] or type(e).__name__
        raise CheckpointError(f"{where} is truncated or not a readable pickle ({reason})") from None
