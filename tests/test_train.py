"""Tests of s2mlib.gan.train: exact resume, own-loss schedulers, atomic checkpoints, the generator exported from a
checkpoint, training from a curation table, the command (s2mlib.run.train). The losses: test_losses.py; the
checkpoint file and snapshots alone: test_checkpoints.py."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
import torch
from helpers import pair
from scipy.ndimage import gaussian_filter

from s2mlib.gan.checkpoints import CHECKPOINT, load_checkpoint
from s2mlib.gan.model import Generator
from s2mlib.gan.train import GAN, HISTORY, TrainConfig, train
from s2mlib.gan.weights import export_generator, load_generator
from s2mlib.io.density import read_map

# Tiny CPU runs: width 2, batch 2, 4 patches per epoch = 2 optimiser steps per epoch.
TINY = dict(batch_size=2, width=2, max_patches_per_epoch=4, max_val_patches=2, progress=False, seed=7)


pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def data() -> tuple[list, list]:
    """One real map (2566_3J6B) on a 1 A grid, min-max [0, 1], as target; a smoothed copy as input."""
    m = read_map(pair("2566_3J6B")["map_path"])
    target = m.resampled_on(m.origin, tuple(int(n * 1.34) for n in m.data.shape), 1.0).data
    target = (target - target.min()) / (target.max() - target.min())
    inp = gaussian_filter(target, 1.0, truncate=2.0).astype(np.float32)
    return [(inp, target)], [(inp[::-1].copy(), target[::-1].copy())]


@pytest.fixture(scope="module")
def straight(tmp_path_factory, data) -> tuple:
    """4 steps without a break (2 epochs x 2 steps)."""
    run = tmp_path_factory.mktemp("straight")
    history = train(TrainConfig(epochs=2, **TINY), *data, run)
    return run, history


def test_resume_is_exact(straight, tmp_path, data):
    run_a, history_a = straight
    run_b = tmp_path / "split"
    train(TrainConfig(epochs=1, **TINY), *data, run_b)  # 2 steps, checkpoint
    after_one = load_checkpoint(run_b / CHECKPOINT)
    history_b = train(TrainConfig(epochs=2, **TINY), *data, run_b)  # resume: 2 more steps
    a, b = load_checkpoint(run_a / CHECKPOINT), load_checkpoint(run_b / CHECKPOINT)
    assert a["epoch"] == b["epoch"] == 2 and after_one["epoch"] == 1
    for net in ("generator", "discriminator"):
        moved = False
        for k, v in a[net].items():
            torch.testing.assert_close(b[net][k], v, rtol=1e-6, atol=1e-6)
            moved |= not torch.equal(after_one[net][k], v)
        assert moved  # the last two steps did change the weights
    for opt in ("opt_g", "opt_d"):
        for k, state in a[opt]["state"].items():
            for name, t in state.items():
                torch.testing.assert_close(b[opt]["state"][k][name], t, rtol=1e-6, atol=1e-6)
    pd.testing.assert_frame_equal(
        history_a.drop(columns=["patches_per_s", "seconds"]),
        history_b.drop(columns=["patches_per_s", "seconds"]),
        rtol=1e-6,
    )
    # a finished run is not trained again
    pd.testing.assert_frame_equal(train(TrainConfig(epochs=2, **TINY), *data, run_b), history_b)


def test_checkpoint_and_history_contents(straight):
    run, history = straight
    ckpt = torch.load(run / CHECKPOINT, weights_only=True)
    assert {
        "generator",
        "discriminator",
        "opt_g",
        "opt_d",
        "sched_g",
        "sched_d",
        "epoch",
        "rng",
        "history",
        "config",
    } <= set(ckpt)
    assert ckpt["config"]["width"] == 2 and ckpt["rng"]["torch"].dtype == torch.uint8
    csv = pd.read_csv(run / HISTORY)
    assert csv["epoch"].tolist() == [1, 2] and len(history) == 2
    np.testing.assert_allclose(csv[["val_loss_G", "val_loss_D"]], history[["val_loss_G", "val_loss_D"]])
    assert (history[["train_loss_G", "train_loss_D", "val_loss_G", "val_loss_D"]] > 0).all().all()
    assert not list(run.glob("*.part"))


def test_each_scheduler_steps_on_its_own_loss(tmp_path, data):
    """patience 0: an lr halves after every epoch that does not improve ITS loss (rel. threshold 1e-4)."""
    cfg = TrainConfig(epochs=4, lr_patience=0, **{**TINY, "max_patches_per_epoch": 2})
    history = train(cfg, *data, tmp_path)
    for loss, lr in (("val_loss_G", "lr_G"), ("val_loss_D", "lr_D")):
        best, expected = math.inf, cfg.lr
        for value, got in zip(history[loss], history[lr]):
            if value < best * (1 - 1e-4):
                best = value
            else:
                expected *= 0.5
            assert got == pytest.approx(expected)
    ckpt = load_checkpoint(tmp_path / CHECKPOINT)
    assert ckpt["sched_g"]["best"] in history["val_loss_G"].tolist()
    assert ckpt["sched_d"]["best"] in history["val_loss_D"].tolist()


def test_interrupted_checkpoint_write_keeps_the_last(tmp_path, data, monkeypatch):
    cfg = dict(TINY, max_patches_per_epoch=2)
    train(TrainConfig(epochs=1, **cfg), *data, tmp_path)
    real_save = torch.save

    def killed(obj, path, *args, **kwargs):
        with open(path, "wb") as fh:
            fh.write(b"half a checkpoint")
        raise KeyboardInterrupt

    monkeypatch.setattr(torch, "save", killed)
    with pytest.raises(KeyboardInterrupt):
        train(TrainConfig(epochs=2, **cfg), *data, tmp_path)
    monkeypatch.setattr(torch, "save", real_save)
    assert load_checkpoint(tmp_path / CHECKPOINT)["epoch"] == 1
    assert not list(tmp_path.glob("*.part"))
    assert train(TrainConfig(epochs=2, **cfg), *data, tmp_path)["epoch"].tolist() == [1, 2]


def test_resume_guards(straight, data):
    run, _ = straight
    with pytest.raises(ValueError, match="resume=True"):
        train(TrainConfig(epochs=2, **TINY), *data, run, resume=False)
    with pytest.raises(ValueError, match="width 2 -> 4"):
        train(TrainConfig(epochs=3, **{**TINY, "width": 4}), *data, run)


def test_config_validation():
    with pytest.raises(ValueError, match="batch_size"):
        TrainConfig(batch_size=0)
    with pytest.raises(ValueError, match="without a loss"):
        TrainConfig(l1=False, alpha=0)
    with pytest.raises(ValueError, match="max_patches_per_epoch"):
        TrainConfig(max_patches_per_epoch=0)
    cfg = TrainConfig()
    assert (cfg.lr, cfg.alpha, cfg.batch_size, cfg.epochs, cfg.lr_factor, cfg.lr_patience, cfg.width) == (
        1e-4,
        0.01,
        128,
        150,
        0.5,
        15,
        32,
    )


def test_step_updates_only_what_it_should():
    cfg = TrainConfig(width=2, batch_size=2, l1=False)
    gan = GAN.build(cfg)
    before = {k: v.clone() for k, v in gan.generator.state_dict().items()}
    x, y = torch.rand(2, 1, 32, 32, 32), torch.rand(2, 1, 32, 32, 32)
    losses = gan.step(x, y, cfg)
    assert losses["loss_G"].item() == pytest.approx(0.01 * losses["adv"].item())
    assert any(not torch.equal(before[k], v) for k, v in gan.generator.state_dict().items())
    assert all(p.requires_grad for p in gan.discriminator.parameters())


def test_a_checkpoint_exports_its_generator(straight, tmp_path):
    run, _ = straight
    weights = load_checkpoint(run / CHECKPOINT)["generator"]
    half = export_generator(run / CHECKPOINT, tmp_path / "g16.pt")
    payload = torch.load(half, weights_only=True)
    assert payload["width"] == 2 and payload["dtype"] == "float16"
    g = load_generator(half)
    for k, v in g.state_dict().items():
        torch.testing.assert_close(v, weights[k], rtol=1e-3, atol=1e-5)
    with pytest.raises(ValueError, match="not a struc2map generator"):
        load_generator(run / CHECKPOINT)


def test_on_epoch_end_gets_each_epoch_once_with_its_generator(tmp_path, data):
    seen = []

    def snapshot(epoch, generator):
        assert isinstance(generator, Generator)
        seen.append((epoch, {k: v.detach().clone() for k, v in generator.state_dict().items()}))

    train(TrainConfig(epochs=1, **TINY), *data, tmp_path, on_epoch_end=snapshot)
    train(TrainConfig(epochs=2, **TINY), *data, tmp_path, on_epoch_end=snapshot)  # resumed: epoch 2 only
    assert [epoch for epoch, _ in seen] == [1, 2]
    final = load_checkpoint(tmp_path / CHECKPOINT)["generator"]
    for k, v in final.items():
        torch.testing.assert_close(seen[1][1][k], v, rtol=0, atol=0)  # the weights after that epoch
    assert any(not torch.equal(seen[0][1][k], v) for k, v in final.items())


def test_time_limit_stops_after_the_epoch_that_runs_out_with_a_checkpoint(tmp_path, data, straight):
    """A limit shorter than any epoch: one epoch of a 5-epoch run is done, checkpointed, and equals epoch 1 of the
    straight run; resuming without the limit continues from there."""
    history = train(TrainConfig(epochs=5, time_limit_s=1e-6, checkpoint_every=100, **TINY), *data, tmp_path)
    assert history["epoch"].tolist() == [1]
    ckpt = load_checkpoint(tmp_path / CHECKPOINT)
    assert ckpt["epoch"] == 1
    expected = pd.read_csv(straight[0] / HISTORY).iloc[0]
    assert history.iloc[0]["val_loss_G"] == pytest.approx(expected["val_loss_G"], rel=1e-6)
    resumed = train(TrainConfig(epochs=2, **TINY), *data, tmp_path)
    assert resumed["epoch"].tolist() == [1, 2]
    final, reference = load_checkpoint(tmp_path / CHECKPOINT), load_checkpoint(straight[0] / CHECKPOINT)
    for k, v in reference["generator"].items():
        torch.testing.assert_close(final["generator"][k], v, rtol=0, atol=0)
    with pytest.raises(ValueError, match="time_limit_s"):
        TrainConfig(time_limit_s=0)


def test_train_from_a_curation_table(tmp_path, data):
    """The notebooks' one training call: the table's train/val maps, the run's checkpoint and generator.pt; a table
    without validation entries is a sentence saying what to do."""
    from s2mlib.errors import ManifestError
    from s2mlib.gan.train import GENERATOR, train_from_table
    from s2mlib.io.density import DensityMap, write_map
    from s2mlib.io.manifest import save_curation

    (inp, target), (val_inp, val_target) = data[0][0], data[1][0]
    rows = []
    for entry, split, (x, y) in (("a", "train", (inp, target)), ("b", "val", (val_inp, val_target))):
        for kind, array in (("sim", x), ("exp", y)):
            write_map(DensityMap(array, (0, 0, 0), 1.0), tmp_path / f"{entry}_{kind}.mrc")
        rows.append(
            {
                "entry": entry,
                "emdb_id": entry,
                "split": split,
                "kept": True,
                "reason": "",
                "exp_map": str(tmp_path / f"{entry}_exp.mrc"),
                "sim_map": str(tmp_path / f"{entry}_sim.mrc"),
            }
        )
    table = pd.DataFrame(rows)
    config = TrainConfig(epochs=1, keep_empty=False, **TINY)
    history, path = train_from_table(config, table, tmp_path / "run")
    assert path == tmp_path / "run" / GENERATOR and load_generator(path).width == 2 and len(history) == 1
    straight = train(config, data[0], data[1], tmp_path / "straight")  # the same run from arrays
    pd.testing.assert_frame_equal(
        history.drop(columns=["patches_per_s", "seconds"]), straight.drop(columns=["patches_per_s", "seconds"])
    )
    save_curation(table, tmp_path)
    with pytest.raises(ManifestError, match="no kept entry in split.*val.*val_fraction"):
        train_from_table(config, table.assign(split="train"), tmp_path / "run2")


def test_the_command_line_trains_a_profile(tmp_path, data, capsys):
    """``python -m s2mlib.run.train --profile P -p KEY VALUE``: the run folder's curation table, ``null`` overrides a
    key to None, snapshots, the record and the generator in run/train; a missing table is one line and status 2."""
    import json

    from s2mlib.gan.train import GENERATOR, RECORD
    from s2mlib.io.density import DensityMap, write_map
    from s2mlib.io.manifest import save_curation
    from s2mlib.run.train import main

    run = tmp_path / "run"
    rows = []
    for entry, split, (x, y) in (("a", "train", data[0][0]), ("b", "val", data[1][0])):
        for kind, array in (("sim", x), ("exp", y)):
            write_map(DensityMap(array, (0, 0, 0), 1.0), run / "curated" / f"{entry}_{kind}.mrc")
        rows.append(
            {
                "entry": entry,
                "emdb_id": entry,
                "pdb_id": "",
                "split": split,
                "kept": True,
                "reason": "",
                "exp_map": f"curated/{entry}_exp.mrc",
                "sim_map": f"curated/{entry}_sim.mrc",
            }
        )
    save_curation(pd.DataFrame(rows), run)
    args = {
        "run_dir": run,
        "width": 2,
        "epochs": 1,
        "batch_size": 2,
        "max_patches_per_epoch": 4,
        "device": "cpu",
        "max_val_patches": "null",
        "augment_backend": "device",
    }
    assert main(["--profile", "default"] + [a for k, v in args.items() for a in ("-p", k, str(v))]) == 0
    record = json.loads((run / "train" / RECORD).read_text())
    assert record["max_val_patches"] is None and record["augment_backend"] == "device" and record["world_size"] == 1
    assert load_checkpoint(run / "train" / CHECKPOINT)["epoch"] == 1 and (run / "train" / GENERATOR).is_file()
    assert [p.name for p in (run / "train" / "snapshots").iterdir()] == ["epoch_001.pt"]
    assert main(["--profile", "default", "-p", "run_dir", str(tmp_path / "nothing")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith("s2mlib.run.train: error:") and "no curation table" in err[-1]


def test_device_augmentation_changes_only_the_input_and_resumes_exactly(tmp_path, data, straight):
    """augment_backend 'device': a different run from TorchIO's (other draws), exactly resumable; an augmenting
    dataset with it is refused (it would augment twice)."""
    from s2mlib.gan.patches import PatchDataset

    cfg = dict(TINY, augment_backend="device")
    whole = train(TrainConfig(epochs=2, **cfg), *data, tmp_path / "whole")
    train(TrainConfig(epochs=1, **cfg), *data, tmp_path / "split")
    split = train(TrainConfig(epochs=2, **cfg), *data, tmp_path / "split")
    pd.testing.assert_frame_equal(
        whole.drop(columns=["patches_per_s", "seconds"]), split.drop(columns=["patches_per_s", "seconds"]), rtol=1e-6
    )
    assert not np.allclose(whole["train_loss_G"], straight[1]["train_loss_G"])
    np.testing.assert_allclose(whole["val_loss_G"].iloc[0], straight[1]["val_loss_G"].iloc[0], rtol=0.5)
    with pytest.raises(ValueError, match="augment twice|without augment"):
        train(TrainConfig(epochs=1, **cfg), PatchDataset(data[0], augment=True), data[1], tmp_path / "twice")
    with pytest.raises(ValueError, match="augment_backend"):
        TrainConfig(augment_backend="gpu")


def test_persistent_loader_workers_give_the_same_run(tmp_path, data, straight):
    """Two loader workers that live through the run (the epoch travels with each index) draw every epoch's
    augmentation as one process does: the same weights."""
    train(TrainConfig(epochs=2, num_workers=2, **TINY), *data, tmp_path)
    final, reference = load_checkpoint(tmp_path / CHECKPOINT), load_checkpoint(straight[0] / CHECKPOINT)
    for k, v in reference["generator"].items():
        torch.testing.assert_close(final["generator"][k], v, rtol=0, atol=0)


def test_the_same_command_twice_gives_the_same_tensors(straight, tmp_path, data):
    """Determinism on one machine: a second training with the same settings gives bit-identical networks, optimiser
    states and losses (every tensor compared exactly); another seed does not."""
    run_a, history_a = straight
    assert TrainConfig().deterministic and torch.are_deterministic_algorithms_enabled()
    history_b = train(TrainConfig(epochs=2, **TINY), *data, tmp_path / "again")
    a, b = load_checkpoint(run_a / CHECKPOINT), load_checkpoint(tmp_path / "again" / CHECKPOINT)

    def tensors(value, prefix=""):
        if isinstance(value, torch.Tensor):
            yield prefix, value
        elif isinstance(value, dict):
            for key, item in value.items():
                yield from tensors(item, f"{prefix}/{key}")
        elif isinstance(value, list | tuple):
            for i, item in enumerate(value):
                yield from tensors(item, f"{prefix}/{i}")

    pairs = dict(tensors(a)), dict(tensors(b))
    assert pairs[0].keys() == pairs[1].keys() and len(pairs[0]) > 100
    unequal = [name for name, t in pairs[0].items() if not torch.equal(t, pairs[1][name])]
    assert unequal == []
    columns = [c for c in history_a.columns if c not in ("patches_per_s", "seconds")]
    assert history_a[columns].equals(history_b[columns])
    other = train(TrainConfig(epochs=1, **{**TINY, "seed": 8}), *data, tmp_path / "other_seed")
    assert other["train_loss_G"].iloc[0] != history_a["train_loss_G"].iloc[0]
