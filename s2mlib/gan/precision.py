"""The arithmetic the networks run in: float32, or bfloat16 autocast where the hardware computes it natively.

One setting, ``precision``, for training (``TrainConfig.precision``, profile key ``precision``) and generation
(``MapGenerator(precision=)``, profile key ``generate_precision``, ``s2m generate --precision``):

- ``'fp32'``: float32 everywhere;
- ``'bf16'``: bfloat16 autocast (``torch.autocast``), asked for explicitly;
- ``'auto'``: bf16 only where the device computes it natively, float32 elsewhere.

Native bf16 (:func:`bf16_native`): a CUDA device that supports it (``torch.cuda.is_bf16_supported``, compute
capability 8.0 and up), or a CPU with AVX-512 BF16 or AMX tiles (``torch.cpu._is_avx512_bf16_supported``,
``torch.cpu._is_amx_tile_supported``) on which oneDNN is allowed to use bf16
(``torch.ops.mkldnn._is_mkldnn_bf16_supported``, which also follows ``ONEDNN_MAX_CPU_ISA``). Elsewhere (an AVX2
CPU, such as the paper's Threadripper 2950X) bf16 is emulated: one ``Conv3d(8, 8, 3)`` on 8 x 32^3 took 2.5 s in
bf16 against 0.04 s in float32 on a 2-core AVX2 EPYC (README, Benchmarks), so asking for it there warns in one line.

Example:
    >>> import torch
    >>> resolve_precision("fp32", torch.device("cpu"))
    'fp32'
    >>> resolve_precision("auto", torch.device("cpu")) in ("fp32", "bf16")
    True
"""

from __future__ import annotations

import contextlib
import warnings
from typing import TYPE_CHECKING

from ..errors import InputError

if TYPE_CHECKING:  # torch is imported where it is used, so that the command line's help stays light
    import torch

PRECISIONS = ("auto", "fp32", "bf16")
EMULATED_SLOWDOWN = 50  # bf16 / fp32 time of the generator on an AVX2 CPU, about (README, Benchmarks)


class EmulatedPrecisionWarning(UserWarning):
    """bf16 was asked for on a device that only emulates it (much slower than float32 there)."""


def cpu_capability() -> str:
    """The CPU's vector capability as torch dispatches its kernels: 'AVX2', 'AVX512', 'DEFAULT', ... plus
    '+BF16' / '+AMX' where the CPU has AVX-512 BF16 / AMX tiles."""
    import torch

    words = [torch.backends.cpu.get_cpu_capability()]
    if torch.cpu._is_avx512_bf16_supported():
        words.append("BF16")
    if torch.cpu._is_amx_tile_supported():
        words.append("AMX")
    return "+".join(words)


def bf16_native(device: torch.device) -> bool:
    """True when ``device`` computes bf16 convolutions natively (see the module docstring)."""
    import torch

    if device.type == "cuda":
        return bool(torch.cuda.is_available() and torch.cuda.is_bf16_supported(including_emulation=False))
    if device.type != "cpu":
        return False
    hardware = torch.cpu._is_avx512_bf16_supported() or torch.cpu._is_amx_tile_supported()
    return bool(hardware and torch.ops.mkldnn._is_mkldnn_bf16_supported())


def check_precision(precision: str) -> str:
    """``precision`` if it is one of :data:`PRECISIONS`, else :class:`~s2mlib.errors.InputError` (one line)."""
    if precision not in PRECISIONS:
        raise InputError(f"precision must be one of {', '.join(PRECISIONS)}, got {precision!r}")
    return precision


def resolve_precision(precision: str, device: torch.device, *, warn: bool = True) -> str:
    """'fp32' or 'bf16': what ``precision`` ('auto', 'fp32', 'bf16') means on ``device``.

    'auto' is 'bf16' where :func:`bf16_native`, else 'fp32'. An explicit 'bf16' stays 'bf16' (the user asked), but
    where it is emulated an :class:`EmulatedPrecisionWarning` says so in one line (unless ``warn`` is False)."""
    check_precision(precision)
    native = bf16_native(device)
    if precision == "auto":
        return "bf16" if native else "fp32"
    if precision == "bf16" and not native and warn:
        where = f"this CPU ({cpu_capability()})" if device.type == "cpu" else f"{device}"
        warnings.warn(
            f"bf16 is emulated on {where}, about {EMULATED_SLOWDOWN}x slower than float32 here: use precision "
            f"fp32 or auto",
            EmulatedPrecisionWarning,
            stacklevel=3,
        )
    return precision


def autocast(device: torch.device, precision: str) -> contextlib.AbstractContextManager:
    """The autocast context for a resolved ``precision`` ('fp32': none; 'bf16': bfloat16 autocast)."""
    import torch

    if precision not in ("fp32", "bf16"):
        raise ValueError(f"resolve the precision first (fp32 or bf16), got {precision!r}")
    return torch.autocast(device.type, dtype=torch.bfloat16, enabled=precision == "bf16")


def device_bf16(device: torch.device) -> str:
    """The device, its hardware and whether it computes bf16 natively, e.g. 'cpu (AVX2; bf16 emulated)'."""
    import torch

    native = "bf16 native" if bf16_native(device) else "bf16 emulated"
    hardware = cpu_capability() if device.type == "cpu" else torch.cuda.get_device_name(device)
    return f"{device} ({hardware}; {native})"


def describe(device: torch.device, precision: str) -> str:
    """One line for logs and provenance, e.g. 'fp32 on cpu (AVX2; bf16 emulated)'."""
    return f"{precision} on {device_bf16(device)}"
