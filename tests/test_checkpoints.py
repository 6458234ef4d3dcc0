"""Tests of s2mlib.gan.checkpoints: a checkpoint file round-trips with the random states that make resume exact, the
settings a resumed run may and may not change (older checkpoints' names read as today's), snapshots in epoch order."""

from __future__ import annotations

import random

import numpy as np
import torch

from s2mlib.gan.checkpoints import (
    CHECKPOINT,
    RESUMABLE_CHANGES,
    WeightSnapshots,
    changed_settings,
    load_checkpoint,
    save_checkpoint,
    set_rng_state,
)
from s2mlib.gan.model import Generator
from s2mlib.gan.train import TrainConfig
from s2mlib.gan.weights import load_generator


def draws() -> tuple:
    """One draw from each random stream that a training epoch uses."""
    return torch.rand(3).tolist(), np.random.rand(3).tolist(), random.random()


def test_a_checkpoint_round_trips_with_the_random_states(tmp_path):
    """The random states are the ones at save time: after loading them, the streams give what they gave then."""
    torch.manual_seed(5)
    np.random.seed(5)
    random.seed(5)
    weights = {"generator": Generator(2).state_dict()}
    history = [{"epoch": 1, "val_loss_G": 0.5}]
    save_checkpoint(tmp_path / CHECKPOINT, {"width": 2, "seed": 7}, 1, weights, history, world_size=2)
    expected = draws()
    ckpt = load_checkpoint(tmp_path / CHECKPOINT)
    assert ckpt["epoch"] == 1 and ckpt["world_size"] == 2 and ckpt["history"] == history
    assert ckpt["config"] == {"width": 2, "seed": 7} and ckpt["format"] and ckpt["version"] == 1
    for name, tensor in weights["generator"].items():
        assert torch.equal(ckpt["generator"][name], tensor)
    draws()  # the streams move on
    set_rng_state(ckpt["rng"])
    assert draws() == expected
    assert not list(tmp_path.glob("*.part"))


def test_settings_a_resumed_run_may_change():
    config = TrainConfig(width=2, epochs=3, precision="fp32")
    saved = {"width": 2, "epochs": 1, "device": "cuda", "precision": "fp32"}
    assert changed_settings(saved, config) == []  # epochs and device are in RESUMABLE_CHANGES
    assert {"epochs", "device"} <= set(RESUMABLE_CHANGES)
    assert changed_settings({**saved, "width": 4, "lr": 0.5}, config) == ["width 4 -> 2", "lr 0.5 -> 0.0001"]
    # an older checkpoint's bf16 flag is today's precision
    assert changed_settings({"bf16": False}, config) == []
    assert changed_settings({"bf16": True}, config) == ["precision 'bf16' -> 'fp32'"]


def test_weight_snapshots_are_listed_in_epoch_order(tmp_path):
    """The callback writes epoch_NNN.pt; files() orders by the epoch number, so epoch 1000 comes after 999 (a name
    order would put it first) and averaging 'the last K' takes the last K epochs."""
    snapshots = WeightSnapshots(tmp_path, every=1)
    for epoch in (2, 999, 1000, 10):
        snapshots(epoch, Generator(2))
    files = snapshots.files()
    assert list(files) == [2, 10, 999, 1000]
    assert files[1000] == tmp_path / "epoch_1000.pt" and load_generator(files[1000]).width == 2
