"""Adversarial training of the generator (paper section 3.4): the settings, the GAN step and the loop, in one process
or data-parallel, and the export of the trained generator. The losses: :mod:`s2mlib.gan.losses`; checkpoints and
exact resume: :mod:`s2mlib.gan.checkpoints`; the ``python -m s2mlib.run.train`` command: :mod:`s2mlib.run.train`.

NAdam (lr 1e-4, default betas) for both networks; each ReduceLROnPlateau(factor 0.5, patience 15) steps on ITS OWN
validation loss (the original stepped both schedulers with both losses). Batch 128, 150 epochs.

Everything random in an epoch derives from ``(seed, epoch)`` (patch order, augmentation), so a run stopped
after any checkpoint and resumed gives the same weights as an uninterrupted one.

Data-parallel (DistributedDataParallel) whenever a ``torch.distributed`` process group of more than one process is
initialised, as ``torchrun`` does (:mod:`s2mlib.gan.distributed`): ``batch_size`` is the GLOBAL batch, split between
the processes, whose gradients DDP averages, so W processes compute the step of one process on the same global batch
(equal up to floating-point summation order). Validation and the history's training losses are summed over the
processes; rank 0 alone writes the checkpoint (atomically), the history and the snapshots. A checkpoint holds full
replicas and the split depends only on ``(seed, epoch)``, so a run resumes under any number of processes (a change
of world size included; the global batch may not change).

Example (a CPU smoke run):
    >>> cfg = TrainConfig(epochs=2, batch_size=4, width=4, max_patches_per_epoch=8)  # doctest: +SKIP
    >>> history = train(cfg, train_pairs, val_pairs, "runs/smoke")                   # doctest: +SKIP
"""

from __future__ import annotations

import json
import os
import shlex
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader, Dataset

from ..errors import InputError
from ..io.manifest import require_kept
from ..io.outputs import atomic_write
from ..io.progress import tqdm
from ..sim.inputs import DEFAULT_RESOLUTION, INPUT_KINDS
from . import distributed
from .augment import augment_batch, draw
from .checkpoints import CHECKPOINT, changed_settings, load_checkpoint, save_checkpoint, set_rng_state
from .losses import discriminator_loss, generator_loss
from .model import Discriminator, Generator, place
from .patches import PatchDataset, load_levels
from .precision import autocast as precision_autocast
from .precision import check_precision, describe, resolve_precision
from .weights import export_generator

HISTORY = "history.csv"
GENERATOR = "generator.pt"  # train_from_table's export of the last epoch's generator
RECORD = "config.json"  # train_from_table's record of the run: settings, hardware, processes, patches, command
AUGMENT_BACKENDS = ("torchio", "device")


@dataclass
class TrainConfig:
    """Training settings; defaults are the paper's (section 3.4).

    ``l1=False`` drops the SmoothL1 term (ablation); ``alpha=0`` drops the adversarial term of ``loss_G``.
    ``max_patches_per_epoch`` / ``max_val_patches`` cap the patches seen per epoch (CPU smoke runs): a fresh
    random subset of the training patches each epoch, a fixed evenly spaced subset of the validation patches.
    ``keep_empty`` keeps cubes whose input and target are all zero (the paper kept every cube).
    ``precision`` 'fp32', 'bf16' (autocast) or 'auto' (bf16 where the device computes it natively:
    :mod:`s2mlib.gan.precision`) and ``channels_last`` (channels-last-3D memory) are speed options;
    ``compile`` runs G and D through ``torch.compile`` (inductor). ``augment_backend`` 'torchio' augments each patch
    in the loader workers with TorchIO (the reference); 'device' augments the batch on the training device with the
    same distributions (:mod:`s2mlib.gan.augment`: no TorchIO or SimpleITK needed, no CPU cost per patch).
    ``time_limit_s`` ends training (with a checkpoint) after the first epoch that finishes past that many seconds
    of this call, so ``epochs`` becomes a maximum: "train for as long as the time allows".

    Beyond the paper: ``conditioned`` trains resolution-conditioned networks (FiLM generator, conditional
    discriminator, :mod:`s2mlib.gan.model`); ``input_kind`` 'molmap' is the paper's input, 'bfactor' the B-factor-aware
    one (:mod:`s2mlib.sim.inputs`). Either beyond-paper choice trains on targets at many resolutions R
    (:func:`s2mlib.gan.patches.load_levels`: the reported resolution, or ``default_resolution`` when unknown, up to
    ``max_resolution`` every ``resolution_step`` A), R drawn per patch, uniformly or, with ``native_fraction`` f,
    the reported resolution at least a fraction f of the time. ``deterministic`` asks torch for deterministic
    algorithms (:func:`make_deterministic`).
    """

    epochs: int = 150
    batch_size: int = 128
    lr: float = 1e-4
    alpha: float = 0.01
    l1: bool = True
    width: int = 32
    seed: int = 0
    device: str = "auto"
    max_patches_per_epoch: int | None = None
    max_val_patches: int | None = None
    augment: bool = True
    keep_empty: bool = True
    lr_factor: float = 0.5
    lr_patience: int = 15
    checkpoint_every: int = 1
    num_workers: int = 0
    precision: str = "fp32"
    channels_last: bool = False
    compile: bool = False
    augment_backend: str = "torchio"
    progress: bool = True
    time_limit_s: float | None = None
    conditioned: bool = False
    input_kind: str = "molmap"
    max_resolution: float = 10.0
    resolution_step: float = 0.5
    default_resolution: float = DEFAULT_RESOLUTION
    native_fraction: float | None = None
    deterministic: bool = True

    @property
    def multi_resolution(self) -> bool:
        """True when the targets come at many resolutions (a conditioned network or an input made at R)."""
        return self.conditioned or self.input_kind != "molmap"

    @property
    def loader_augment(self) -> bool:
        """True when the loader's dataset augments (TorchIO); the 'device' backend augments in :func:`train`."""
        return self.augment and self.augment_backend == "torchio"

    def __post_init__(self) -> None:
        check_precision(self.precision)
        if self.augment_backend not in AUGMENT_BACKENDS:
            raise InputError(
                f"TrainConfig.augment_backend must be one of {', '.join(AUGMENT_BACKENDS)}, "
                f"got {self.augment_backend!r}"
            )
        if self.input_kind not in INPUT_KINDS:
            raise InputError(f"TrainConfig.input_kind must be one of {', '.join(INPUT_KINDS)}, got {self.input_kind!r}")
        if not (0 < self.default_resolution <= self.max_resolution and self.resolution_step > 0):
            raise InputError(
                f"TrainConfig: need 0 < default_resolution <= max_resolution and resolution_step > 0 "
                f"(got {self.default_resolution}, {self.max_resolution}, {self.resolution_step})"
            )
        positive = {
            "epochs": self.epochs,
            "batch_size": self.batch_size,
            "width": self.width,
            "lr": self.lr,
            "checkpoint_every": self.checkpoint_every,
        }
        for name, value in positive.items():
            if isinstance(value, bool) or not isinstance(value, int | float) or not value > 0:
                raise InputError(f"TrainConfig.{name} must be a positive number, got {value!r}")
        if self.time_limit_s is not None and not self.time_limit_s > 0:
            raise InputError(f"TrainConfig.time_limit_s must be None or positive, got {self.time_limit_s}")
        for name in ("max_patches_per_epoch", "max_val_patches"):
            value = getattr(self, name)
            if value is not None and value < 1:
                raise InputError(f"TrainConfig.{name} must be None or >= 1, got {value}")
        if self.alpha < 0 or not 0 < self.lr_factor < 1 or self.lr_patience < 0 or self.num_workers < 0:
            raise InputError(
                f"TrainConfig: need alpha >= 0, 0 < lr_factor < 1, lr_patience >= 0, num_workers >= 0 "
                f"(got {self.alpha}, {self.lr_factor}, {self.lr_patience}, {self.num_workers})"
            )
        if not self.l1 and self.alpha == 0:
            raise InputError("TrainConfig: l1=False with alpha=0 leaves the generator without a loss")


@dataclass
class GAN:
    """Generator, discriminator, their NAdam optimisers and ReduceLROnPlateau schedulers; after :meth:`prepare`, the
    modules a training step calls (DDP wrappers and / or compiled), which share the networks' parameters."""

    generator: Generator
    discriminator: Discriminator
    opt_g: torch.optim.Optimizer
    opt_d: torch.optim.Optimizer
    sched_g: torch.optim.lr_scheduler.ReduceLROnPlateau
    sched_d: torch.optim.lr_scheduler.ReduceLROnPlateau
    step_g: Callable[..., Any] | None = field(default=None, repr=False)  # G in the step (DDP: gradients averaged)
    step_d: Callable[..., Any] | None = field(default=None, repr=False)  # D's own update
    adversary: Callable[..., Any] | None = field(default=None, repr=False)  # D (frozen) in G's adversarial term

    @classmethod
    def build(cls, config: TrainConfig, device: str | torch.device = "cpu") -> GAN:
        """Fresh networks (initialised from ``torch.manual_seed(config.seed)``) on ``device``."""
        torch.manual_seed(config.seed)
        g = place(
            Generator(config.width, conditioned=config.conditioned, input_kind=config.input_kind),
            device,
            config.channels_last,
        )
        d = place(Discriminator(config.width, conditioned=config.conditioned), device, config.channels_last)
        opt_g, opt_d = torch.optim.NAdam(g.parameters(), lr=config.lr), torch.optim.NAdam(d.parameters(), lr=config.lr)

        def plateau(opt):
            return torch.optim.lr_scheduler.ReduceLROnPlateau(
                opt, mode="min", factor=config.lr_factor, patience=config.lr_patience
            )

        return cls(g, d, opt_g, opt_d, plateau(opt_g), plateau(opt_d))

    def prepare(self, config: TrainConfig, device: torch.device, world_size: int = 1) -> None:
        """Set the modules a step calls: DDP wrappers of G and D when ``world_size`` > 1 (their construction
        broadcasts rank 0's parameters), ``torch.compile`` of them with ``config.compile``. The adversarial term
        calls the bare D: its parameters are frozen there, so DDP has nothing to average."""
        g: Callable[..., Any] = self.generator
        d: Callable[..., Any] = self.discriminator
        if world_size > 1:
            ids = [device.index] if device.type == "cuda" else None
            g = DistributedDataParallel(self.generator, device_ids=ids)
            d = DistributedDataParallel(self.discriminator, device_ids=ids)
        adversary: Callable[..., Any] = self.discriminator
        if config.compile:
            g, d, adversary = torch.compile(g), torch.compile(d), torch.compile(adversary)
        self.step_g, self.step_d, self.adversary = g, d, adversary

    def step(
        self,
        x: torch.Tensor,
        y: torch.Tensor,
        config: TrainConfig,
        resolution: torch.Tensor | None = None,
        weight: float = 1.0,
    ) -> dict[str, torch.Tensor]:
        """One generator update then one discriminator update on a batch (with its target resolutions when the
        networks are conditioned); returns the detached losses. ``weight`` scales both losses before the backward
        pass (a process's share of a global batch, :func:`s2mlib.gan.distributed.shards`)."""
        g = self.generator if self.step_g is None else self.step_g
        d = self.discriminator if self.step_d is None else self.step_d
        adversary = self.discriminator if self.adversary is None else self.adversary
        r = resolution if config.conditioned else None
        both = None if r is None else torch.cat([r, r])
        with _autocast(x.device, config):
            fake = g(x, r)
            self.discriminator.requires_grad_(False)  # the adversarial term updates G only
            loss_g, smooth, adv = generator_loss(adversary(fake, r), fake, y, config.alpha, config.l1)
        self.opt_g.zero_grad(set_to_none=True)
        (loss_g if weight == 1 else loss_g * weight).backward()
        self.opt_g.step()
        self.discriminator.requires_grad_(True)
        with _autocast(x.device, config):
            logits = d(torch.cat([y, fake.detach().to(y.dtype)]), both)  # per-sample norms: same as two passes
            loss_d = discriminator_loss(logits[: len(y)], logits[len(y) :])
        self.opt_d.zero_grad(set_to_none=True)
        (loss_d if weight == 1 else loss_d * weight).backward()
        self.opt_d.step()
        return {"loss_G": loss_g.detach(), "loss_D": loss_d.detach(), "l1": smooth.detach(), "adv": adv.detach()}

    @torch.no_grad()
    def validate(self, loader, config: TrainConfig, device: torch.device) -> dict[str, float]:
        """Mean per-patch ``loss_G``, ``loss_D`` and SmoothL1 over a validation loader (every process's share of
        the validation patches, summed over the processes)."""
        sums = torch.zeros(4, dtype=torch.float64, device=device)
        for batch in loader:
            x, y, r = _unpack(batch, config, device)
            with _autocast(device, config):
                fake = self.generator(x, r)
                logits = self.discriminator(torch.cat([y, fake.to(y.dtype)]), None if r is None else torch.cat([r, r]))
                loss_g, smooth, _ = generator_loss(logits[len(y) :], fake, y, config.alpha, config.l1)
                loss_d = discriminator_loss(logits[: len(y)], logits[len(y) :])
            sums += torch.stack(
                [
                    loss_g.double() * len(y),
                    loss_d.double() * len(y),
                    smooth.double() * len(y),
                    torch.tensor(float(len(y)), dtype=torch.float64, device=device),
                ]
            )
        distributed.all_sum(sums)
        val_g, val_d, val_l1 = (sums[:3] / sums[3].clamp(min=1)).tolist()
        return {"val_loss_G": val_g, "val_loss_D": val_d, "val_l1": val_l1}

    def state_dict(self) -> dict:
        return {
            "generator": self.generator.state_dict(),
            "discriminator": self.discriminator.state_dict(),
            "opt_g": self.opt_g.state_dict(),
            "opt_d": self.opt_d.state_dict(),
            "sched_g": self.sched_g.state_dict(),
            "sched_d": self.sched_d.state_dict(),
        }

    def load_state_dict(self, state: dict) -> None:
        for name in ("generator", "discriminator", "opt_g", "opt_d", "sched_g", "sched_d"):
            getattr(self, name).load_state_dict(state[name])


def _unpack(batch, config: TrainConfig, device: torch.device) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
    """(x, y, R) on ``device`` from a loader batch of (x, y) or (x, y, R); R only for conditioned networks."""
    x, y = place(batch[0], device, config.channels_last), place(batch[1], device, config.channels_last)
    r = batch[2].to(device) if config.conditioned and len(batch) > 2 else None
    if config.conditioned and r is None:
        raise ValueError("a conditioned network trains on patches with target resolutions (Levels datasets)")
    return x, y, r


def _autocast(device: torch.device, config: TrainConfig):
    """bf16 autocast when ``config.precision`` resolves to bf16 on ``device`` (said once, in :func:`train`)."""
    return precision_autocast(device, resolve_precision(config.precision, device, warn=False))


def _as_dataset(data, config: TrainConfig, augment: bool) -> PatchDataset:
    if isinstance(data, PatchDataset):
        return data
    return PatchDataset(data, augment=augment, seed=config.seed, keep_empty=config.keep_empty)


class _Batches:
    """A DataLoader batch sampler whose batches (lists of (epoch, index)) are replaced every epoch."""

    def __init__(self) -> None:
        self.batches: list[list[tuple[int, int]]] = []

    def set(self, epoch: int, batches: Sequence[np.ndarray]) -> None:
        self.batches = [[(epoch, int(i)) for i in b] for b in batches]

    def __iter__(self):
        return iter(self.batches)

    def __len__(self) -> int:
        return len(self.batches)


class _AtEpoch(Dataset):
    """``dataset[(epoch, i)]``: item i as drawn in that epoch. Persistent loader workers keep their own copy of the
    dataset, so the epoch travels with each index instead of through ``set_epoch`` in the main process."""

    def __init__(self, dataset: PatchDataset) -> None:
        self.dataset = dataset

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, key: tuple[int, int]):
        epoch, i = key
        if self.dataset.epoch != epoch:
            self.dataset.set_epoch(epoch)
        return self.dataset[i]


def _loader(dataset: PatchDataset, sampler: _Batches, config: TrainConfig, device: torch.device) -> DataLoader:
    """One loader for the whole run: its workers (if any) start once and stay."""
    return DataLoader(
        _AtEpoch(dataset),
        batch_sampler=sampler,
        num_workers=config.num_workers,
        pin_memory=device.type == "cuda",
        persistent_workers=config.num_workers > 0,
    )


def make_deterministic() -> None:
    """Deterministic algorithms for this process (``torch.use_deterministic_algorithms``, warning rather than failing
    on an op without one; cuDNN without benchmark autotuning; cuBLAS's fixed workspace, which must be set before the
    first cuBLAS call). On one machine with the same thread count, the same command then gives the same weights
    (CPU: bit-identical, tests/test_train.py). Across machines float rounding still differs (README
    "Reproducibility")."""
    os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    torch.use_deterministic_algorithms(True, warn_only=True)
    torch.backends.cudnn.benchmark = False


def train(
    config: TrainConfig,
    train_data: PatchDataset | Sequence[tuple[np.ndarray, np.ndarray]],
    val_data: PatchDataset | Sequence[tuple[np.ndarray, np.ndarray]],
    run_dir: str | os.PathLike,
    *,
    resume: bool = True,
    on_epoch_end: Callable[[int, Generator], None] | None = None,
) -> pd.DataFrame:
    """Train the GAN; returns the per-epoch history (also ``run_dir/history.csv``).

    ``train_data`` / ``val_data``: (input, target) array pairs (SimMap, ExpMap on one 1 A grid, min-max [0, 1];
    for the 'raw maps as targets' ablation pass other targets) or ready :class:`PatchDataset` objects. Pairs are
    patched with ``config.keep_empty``; training patches are augmented when ``config.augment`` (in the loader with
    TorchIO, or on the batch on the device: ``config.augment_backend``).
    ``run_dir/checkpoint.pt`` is rewritten atomically every ``checkpoint_every`` epochs and after the last; with
    ``resume`` an existing checkpoint is continued up to ``config.epochs`` (else an existing one is an error).
    A kill or Ctrl-C leaves the last checkpoint whole; ``history.csv`` (rewritten atomically each epoch) may then
    hold epochs past it, which a resumed run recomputes and overwrites.
    History columns: epoch, train_loss_G, train_loss_D, train_l1, train_adv, val_loss_G, val_loss_D, val_l1,
    lr_G, lr_D, patches_per_s, seconds. ``on_epoch_end(epoch, generator)`` runs after each epoch (e.g. snapshots).
    Under ``torch.distributed`` (module docstring) every process calls this with the same arguments; rank 0
    writes the files, reports progress and runs ``on_epoch_end``.
    """
    run_dir = Path(run_dir)
    if config.deterministic:
        make_deterministic()
    where = distributed.ranks()
    device = distributed.rank_device(config.device, where)
    resolve_precision(config.precision, device)  # one line here when bf16 is asked for where it is emulated
    show = config.progress and where.main
    train_ds, val_ds = _as_dataset(train_data, config, config.loader_augment), _as_dataset(val_data, config, False)
    if len(train_ds) == 0 or len(val_ds) == 0:
        raise InputError(f"need training and validation patches, got {len(train_ds)} and {len(val_ds)}")
    device_augment = config.augment and config.augment_backend == "device"
    if device_augment and train_ds.augment:
        raise ValueError("augment_backend 'device' augments on the device: pass a training dataset without augment")
    if config.batch_size < where.world_size:
        raise InputError(
            f"batch_size {config.batch_size} (the global batch) is smaller than the {where.world_size} processes"
        )
    gan = GAN.build(config, device)
    history: list[dict] = []
    start = 0
    if (run_dir / CHECKPOINT).exists():
        if not resume:
            raise InputError(f"{run_dir / CHECKPOINT} exists: pass resume=True to continue it, or use a new run_dir")
        ckpt = load_checkpoint(run_dir / CHECKPOINT)
        changed = changed_settings(ckpt["config"], config)
        if changed:
            raise InputError(f"{run_dir / CHECKPOINT}: cannot resume with changed settings " + ", ".join(changed))
        gan.load_state_dict(ckpt)
        set_rng_state(ckpt["rng"])
        history, start = list(ckpt["history"]), int(ckpt["epoch"])
    gan.prepare(config, device, where.world_size)
    n_val = len(val_ds) if config.max_val_patches is None else min(config.max_val_patches, len(val_ds))
    started = time.perf_counter()
    val_mine = np.array_split(np.unique(np.linspace(0, len(val_ds) - 1, n_val).round().astype(int)), where.world_size)[
        where.rank
    ]
    val_batches, train_batches = _Batches(), _Batches()
    val_batches.set(0, [val_mine[i : i + config.batch_size] for i in range(0, len(val_mine), config.batch_size)])
    val_loader: DataLoader | list = _loader(val_ds, val_batches, config, device) if len(val_batches) else []
    loader = _loader(train_ds, train_batches, config, device)
    for epoch in range(start, config.epochs):
        order = np.random.default_rng([config.seed, epoch]).permutation(len(train_ds))[: config.max_patches_per_epoch]
        plan = distributed.shards(order, config.batch_size, where)
        train_batches.set(epoch, [s.indices for s in plan])
        sums, t0 = torch.zeros(5, dtype=torch.float64, device=device), time.perf_counter()
        gan.generator.train()
        gan.discriminator.train()
        with tqdm(
            loader, desc=f"epoch {epoch + 1}/{config.epochs}", unit="batch", disable=not show, leave=False
        ) as bar:
            for step, (shard, batch) in enumerate(zip(plan, bar)):
                x, y, r = _unpack(batch, config, device)
                if device_augment:
                    x = augment_batch(x, [draw(config.seed, epoch, i) for i in shard.indices])
                losses = gan.step(x, y, config, r, shard.weight)
                sums[:4] += torch.stack(list(losses.values())).double() * shard.count
                sums[4] += shard.count
                if show and (step % 10 == 0 or step == len(plan) - 1):
                    mean = (sums[:4] / sums[4].clamp(min=1)).tolist()
                    bar.set_postfix(
                        loss_G=f"{mean[0]:.4f}",
                        loss_D=f"{mean[1]:.4f}",
                        patch_s=f"{where.world_size * sums[4].item() / (time.perf_counter() - t0):.1f}",
                    )
        distributed.all_sum(sums)
        seconds, seen = time.perf_counter() - t0, int(sums[4].item())
        gan.generator.eval()
        gan.discriminator.eval()
        val = gan.validate(val_loader, config, device)
        gan.sched_g.step(val["val_loss_G"])
        gan.sched_d.step(val["val_loss_D"])
        train_g, train_d, train_l1, train_adv = (sums[:4] / seen).tolist()
        history.append(
            {
                "epoch": epoch + 1,
                "train_loss_G": train_g,
                "train_loss_D": train_d,
                "train_l1": train_l1,
                "train_adv": train_adv,
                **val,
                "lr_G": gan.opt_g.param_groups[0]["lr"],
                "lr_D": gan.opt_d.param_groups[0]["lr"],
                "patches_per_s": seen / seconds,
                "seconds": seconds,
            }
        )
        out_of_time = distributed.from_main(
            config.time_limit_s is not None and time.perf_counter() - started >= config.time_limit_s, device
        )
        if where.main:
            frame = pd.DataFrame(history)
            atomic_write(lambda tmp, frame=frame: frame.to_csv(tmp, index=False), run_dir / HISTORY)
            if (epoch + 1) % config.checkpoint_every == 0 or epoch + 1 == config.epochs or out_of_time:
                save_checkpoint(
                    run_dir / CHECKPOINT, asdict(config), epoch + 1, gan.state_dict(), history, where.world_size
                )
            if on_epoch_end is not None:
                on_epoch_end(epoch + 1, gan.generator)
        distributed.barrier()  # the checkpoint is whole before any process goes on
        if show:
            tqdm.write(
                f"epoch {epoch + 1}: loss_G {train_g:.4f} loss_D {train_d:.4f} "
                f"val_loss_G {val['val_loss_G']:.4f} val_loss_D {val['val_loss_D']:.4f} "
                f"({seen / seconds:.1f} patches/s)"
            )
        if out_of_time:
            break
    return pd.DataFrame(history)


def train_from_table(
    config: TrainConfig,
    table: pd.DataFrame,
    run_dir: str | os.PathLike,
    *,
    root: str | os.PathLike | None = None,
    on_epoch_end: Callable[[int, Generator], None] | None = None,
    half: bool = False,
) -> tuple[pd.DataFrame, Path]:
    """Train on a curation table's 'train' split, validate on its 'val' split, export the generator.

    The one training call of the notebooks (04, 08) and of ``python -m s2mlib.run.train``: builds the two
    :class:`PatchDataset` (training patches augmented when ``config.augment``; ``config.keep_empty``), runs
    :func:`train` in ``run_dir`` (resuming a checkpoint there) and writes ``run_dir/generator.pt`` (fp16 when
    ``half``) and ``run_dir/config.json`` (the settings, hardware, processes, patch counts and command). Raises
    :class:`~s2mlib.errors.ManifestError` saying what to do when a split has no entries. Returns the history and
    the generator's path. The curated maps stay on disk, memory-mapped (:func:`s2mlib.gan.patches.load_pairs`), so
    memory does not grow with the number of maps and the processes of one node share the pages. With
    ``config.multi_resolution`` the datasets hold every entry at many target resolutions in memory
    (:func:`s2mlib.gan.patches.load_levels`, which needs the table's ``model`` column for the 'bfactor' input).
    """
    require_kept(table, ("train", "val"))
    where = distributed.ranks()
    if config.multi_resolution:
        levels = {
            split: load_levels(
                table,
                split,
                kind=config.input_kind,
                max_resolution=config.max_resolution,
                step=config.resolution_step,
                default_resolution=config.default_resolution,
                root=root,
            )
            for split in ("train", "val")
        }
        train_ds = PatchDataset(
            levels["train"][0],
            names=levels["train"][1],
            augment=config.loader_augment,
            seed=config.seed,
            keep_empty=config.keep_empty,
            native_fraction=config.native_fraction,
        )
        val_ds = PatchDataset(levels["val"][0], names=levels["val"][1], seed=config.seed, keep_empty=config.keep_empty)
    else:
        train_ds = PatchDataset.from_table(
            table,
            "train",
            root=root,
            mmap=True,
            augment=config.loader_augment,
            seed=config.seed,
            keep_empty=config.keep_empty,
        )
        val_ds = PatchDataset.from_table(table, "val", root=root, mmap=True, keep_empty=config.keep_empty)
    run_dir = Path(run_dir)
    device = distributed.rank_device(config.device, where)
    if where.main:
        record = {
            **asdict(config),
            "hardware": hardware(device, where),
            "precision": describe(device, resolve_precision(config.precision, device, warn=False)),
            "world_size": where.world_size,
            "command": _command(where),
            "train_patches": len(train_ds),
            "val_patches": len(val_ds),
        }
        atomic_write(lambda tmp: Path(tmp).write_text(json.dumps(record, indent=1)), run_dir / RECORD)
        if config.progress:
            tqdm.write(
                f"train entries {', '.join(train_ds.names)}: {len(train_ds)} patches; validation entries "
                f"{', '.join(val_ds.names)}: {len(val_ds)} patches; {where.world_size} process(es), "
                f"torch threads {torch.get_num_threads()}; {record['precision']}"
            )
    history = train(config, train_ds, val_ds, run_dir, on_epoch_end=on_epoch_end)
    if where.main:
        export_generator(run_dir / CHECKPOINT, run_dir / GENERATOR, half=half)
    distributed.barrier()
    return history, run_dir / GENERATOR


def hardware(device: torch.device, where: distributed.Ranks | None = None) -> str:
    """What trains, in words: the GPUs' name and count, or the CPU processes and cores."""
    world = (where or distributed.Ranks()).world_size
    if device.type == "cuda":
        return f"{world} x {torch.cuda.get_device_name(device)}"
    return f"{world} process(es) on a {os.cpu_count()}-core CPU ({torch.get_num_threads()} torch threads each)"


def _command(where: distributed.Ranks) -> str:
    """This process's command line as one would type it (``python -m s2mlib.run.train ...`` under torchrun)."""
    if not sys.argv or not sys.argv[0].endswith(os.path.join("s2mlib", "run", "train.py")):
        return f"s2mlib.gan.train.train_from_table in {Path(sys.argv[0]).name if sys.argv else 'python'}"
    nodes, per_node = os.environ.get("GROUP_WORLD_SIZE", "1"), os.environ.get("LOCAL_WORLD_SIZE", where.world_size)
    launcher = (
        "python"
        if not where.parallel
        else f"torchrun --nproc-per-node {per_node}"
        if nodes == "1"
        else f"torchrun --nnodes {nodes} --nproc-per-node {per_node}"
    )
    return f"{launcher} -m s2mlib.run.train {shlex.join(sys.argv[1:])}"
