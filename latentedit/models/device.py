"""The one check of a --device string: a device torch knows and this machine has, or a one-line error."""

from __future__ import annotations

import torch

from latentedit.errors import InputError


def resolve_device(device) -> torch.device:
    """`device` ("cpu", "cuda", "cuda:1", "mps" or a torch.device) as a torch.device this machine has."""
    if isinstance(device, torch.device):
        dev = device
    else:
        try:
            dev = torch.device(str(device))
        except (RuntimeError, ValueError):
            raise InputError(f"--device {device} is not a device torch knows; use cpu or cuda (cuda:N)") from None
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise InputError(f"--device {device} asked but this machine has no CUDA GPU; use --device cpu")
    if dev.type == "cuda" and dev.index is not None and dev.index >= torch.cuda.device_count():
        raise InputError(f"--device {device}: this machine has {torch.cuda.device_count()} CUDA GPU(s); "
                         "use cuda:0 or --device cpu")
    if dev.type == "mps" and not torch.backends.mps.is_available():
        raise InputError(f"--device {device} asked but this machine has no Apple GPU; use --device cpu")
    if dev.type not in ("cpu", "cuda", "mps"):
        raise InputError(f"--device {device}: latentedit runs on cpu, cuda or mps")
    return dev
