"""Training checkpoints and exact resume: the file (settings, epoch, networks, optimisers, schedulers, random states,
history, processes), written atomically; which settings a resumed run may change; and generator snapshots per epoch.

Everything random in an epoch derives from ``(seed, epoch)`` and the random states travel in the checkpoint, so a run
stopped after any checkpoint and resumed gives the same weights as an uninterrupted one (tests/test_train.py).
"""

from __future__ import annotations

import os
import random
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..io.outputs import atomic_write
from .generate import refine
from .model import Generator
from .weights import CHECKPOINT_FORMAT, export_generator, load_generator, load_torch_file

CHECKPOINT = "checkpoint.pt"
# Config fields that may change between a run and its resumption (they do not change what is computed, beyond
# floating-point rounding for compile).
RESUMABLE_CHANGES = (
    "epochs",
    "device",
    "num_workers",
    "progress",
    "checkpoint_every",
    "time_limit_s",
    "compile",
    "deterministic",
)


def current_keys(saved: Mapping[str, Any]) -> dict[str, Any]:
    """A checkpoint's settings under today's names: ``bf16`` (a bool, in older checkpoints) is ``precision``."""
    keys = dict(saved)
    if "bf16" in keys:
        keys["precision"] = "bf16" if keys.pop("bf16") else "fp32"
    return keys


def changed_settings(saved: Mapping[str, Any], config: Any) -> list[str]:
    """The settings of a checkpoint (``saved``, its ``config``) that ``config`` (a ``TrainConfig``) changes and a
    resumed run may not change (not in :data:`RESUMABLE_CHANGES`), each as ``name old -> new``."""
    keys = current_keys(saved)
    changed = [k for k, v in keys.items() if k not in RESUMABLE_CHANGES and getattr(config, k) != v]
    return [f"{k} {keys[k]!r} -> {getattr(config, k)!r}" for k in changed]


def rng_state() -> dict:
    state = np.random.get_state(legacy=True)
    assert isinstance(state, tuple)  # the global RandomState is MT19937: the legacy tuple
    kind, keys, pos, has_gauss, cached = state
    return {
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
        "numpy": (kind, torch.from_numpy(keys.astype(np.int64)), pos, has_gauss, cached),
        "python": random.getstate(),
    }


def set_rng_state(state: dict) -> None:
    torch.set_rng_state(state["torch"])
    if state["cuda"] and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])
    kind, keys, pos, has_gauss, cached = state["numpy"]
    np.random.set_state((kind, keys.numpy().astype(np.uint32), pos, has_gauss, cached))
    random.setstate(state["python"])


def load_checkpoint(path: str | os.PathLike) -> dict:
    """A training checkpoint, read with ``torch.load(weights_only=True)`` onto the CPU."""
    return load_torch_file(path, CHECKPOINT_FORMAT, "training checkpoint")


def save_checkpoint(
    path: Path,
    config: Mapping[str, Any],
    epoch: int,
    states: Mapping[str, Any],
    history: list[dict],
    world_size: int = 1,
) -> None:
    """Write a training checkpoint to ``path`` atomically: the settings (``config``, a ``TrainConfig`` as a dict), the
    epochs done, the networks' and optimisers' ``states``, this process's random states, the history and the number
    of processes."""
    payload = {
        "format": CHECKPOINT_FORMAT,
        "version": 1,
        "config": dict(config),
        "epoch": epoch,
        **states,
        "rng": rng_state(),
        "history": history,
        "world_size": world_size,
    }
    atomic_write(lambda tmp: torch.save(payload, tmp), path)


class WeightSnapshots:
    """An ``on_epoch_end`` callback for :func:`train` saving the generator every ``every`` epochs to
    ``folder/epoch_NNN.pt`` (float32); files survive an interrupted and resumed run."""

    def __init__(self, folder: str | os.PathLike, every: int = 1):
        self.folder, self.every = Path(folder), every

    def __call__(self, epoch: int, generator: Generator) -> None:
        if epoch % self.every == 0:
            export_generator(generator, self.folder / f"epoch_{epoch:03d}.pt", half=False)

    def files(self) -> dict[int, Path]:
        """The saved generators' files by epoch, in epoch order (epoch 1000 after 999)."""
        found = {int(path.stem.removeprefix("epoch_")): path for path in self.folder.glob("epoch_*.pt")}
        return dict(sorted(found.items()))

    def slices(self, array: np.ndarray, axis: int = 0, resolution: float | None = None) -> dict[int, np.ndarray]:
        """The central slice (across ``axis``) of each saved generator's output for the input ``array`` (at
        ``resolution`` for a conditioned generator)."""
        out = {}
        for epoch, path in self.files().items():
            refined = refine(load_generator(path), array, resolution=resolution)
            out[epoch] = np.take(refined, refined.shape[axis] // 2, axis=axis)
        return out
