"""Pinning the CPU kernels of a demo-world build, so that the weights a seed gives do not depend
on which x86-64 CPU the build ran on. Build-time only.

torch's convolutions run oneDNN kernels chosen for the CPU's widest instruction set, and their
float sums round differently on an AVX-512 machine than on an AVX2 one: 30 steps of the style
encoder's training on one machine give other weights with ONEDNN_MAX_CPU_ISA=AVX2 than without,
and after a whole build every tensor differs (why stop 17's encoder rebuild did not reproduce
stop 15's). TensorFlow's oneDNN does the same to the demo tagger (20 steps: other weights with
the cap). torch's own ATen kernels (ATEN_CPU_CAPABILITY) and OpenBLAS (OPENBLAS_CORETYPE) did
not change the bytes. `pin()` caps oneDNN (torch's and TensorFlow's), and MKL (its conditional
numerical reproducibility, MKL_CBWR), at AVX2, which every x86-64 CPU of the last decade has,
before the first kernel runs; a variable the user set is left as it is. Training is about 30%
slower that way.
"""

from __future__ import annotations

import os
import platform

PINNED = {"ONEDNN_MAX_CPU_ISA": "AVX2", "MKL_CBWR": "AVX2"}


def pin() -> dict:
    """Cap oneDNN and MKL at AVX2 (unless already set); return what the build ran with, for its record."""
    for name, value in PINNED.items():
        os.environ.setdefault(name, value)
    return describe()


def describe() -> dict:
    """The machine and kernel settings a build ran with."""
    import torch

    return {"machine": platform.machine(), "torch_cpu_capability": torch.backends.cpu.get_cpu_capability(),
            **{name: os.environ.get(name) for name in PINNED}}


def summary(settings: dict) -> str:
    """'ONEDNN_MAX_CPU_ISA=AVX2, MKL_CBWR=AVX2': the pinned variables of a recorded `describe()`, for cards."""
    return ", ".join(f"{name}={settings.get(name)}" for name in PINNED)
