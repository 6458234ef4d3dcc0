"""Data-parallel training (s2mlib.gan.distributed, s2mlib.gan.train under torch.distributed) on CPU processes with gloo:
two processes give the weights of one process with the same global batch, a run killed after a checkpoint resumes
under DDP to the uninterrupted run's weights (and under one process: a change of world size), notebook 04 launches
torchrun with two processes through the runner.

Tolerance of "the same weights" (2 processes against 1): DDP averages the two halves' gradients, one process sums
the whole batch in one convolution backward, so gradients agree up to float32 summation order (~1e-7 relative).
Every parameter the losses depend on then agrees within 1e-5 after the 6 steps here (measured: 1.8e-6). The biases
of the convolutions followed by InstanceNorm are the exception: the norm subtracts them again, so their exact
gradient is 0 and the computed one is rounding noise, which NAdam (dividing by the running RMS of that very noise)
turns into steps of up to lr; they may differ by up to lr per step (measured: 1.8e-4 after 6 steps at lr 1e-4,
bound 6e-4) and change no output, so the test bounds them by lr x steps and compares the generators' outputs on a
random input instead (measured: 5.5e-6 on outputs of about 0.05; tolerance 5e-5). The history's losses agree within
1e-5 relative (measured: 6e-8). A run resumed under the same number of processes is exact (tolerance 0).
"""

from __future__ import annotations

import os
import shutil
import signal

import numpy as np
import pandas as pd
import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from helpers import TEST_DATA, pair
from scipy.ndimage import gaussian_filter

from s2mlib.gan.checkpoints import CHECKPOINT, load_checkpoint
from s2mlib.gan.distributed import Ranks, _cause, resolve_nproc, shards
from s2mlib.gan.model import Generator
from s2mlib.gan.train import HISTORY, TrainConfig, train
from s2mlib.io.density import DensityMap, read_map, write_map

# 5 patches per epoch at a global batch of 2: batches of 2, 2 and 1 (split 1 + 1, 1 + 1, and 1 + a stand-in of
# weight 0); 3 validation patches (2 + 1); the device augmentation. 6 steps in 2 epochs.
CONFIG = dict(
    epochs=2,
    batch_size=2,
    width=2,
    max_patches_per_epoch=5,
    max_val_patches=3,
    progress=False,
    seed=7,
    augment_backend="device",
)
STEPS = 6
LOSS_COLUMNS = [
    "train_loss_G",
    "train_loss_D",
    "train_l1",
    "train_adv",
    "val_loss_G",
    "val_loss_D",
    "val_l1",
    "lr_G",
    "lr_D",
]

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _worker(rank: int, world: int, store: str, arrays: str, run_dir: str, epochs: int, kill_after: int | None):
    """One gloo process of a data-parallel run; with ``kill_after`` rank 0 SIGKILLs itself after that epoch's
    checkpoint (mp.spawn then stops the other process)."""
    torch.set_num_threads(1)
    dist.init_process_group("gloo", init_method=f"file://{store}", rank=rank, world_size=world)
    data = np.load(arrays)

    def kill(epoch, generator):
        if epoch == kill_after:
            os.kill(os.getpid(), signal.SIGKILL)

    train(
        TrainConfig(**{**CONFIG, "epochs": epochs}),
        [(data["x"], data["y"])],
        [(data["vx"], data["vy"])],
        run_dir,
        on_epoch_end=kill,
    )
    dist.destroy_process_group()


def spawn(tmp, name: str, arrays, *, epochs: int = 2, kill_after: int | None = None, world: int = 2):
    store = tmp / f"{name}-{os.urandom(4).hex()}.store"  # a fresh rendezvous file (a killed run leaves its own)
    mp.start_processes(
        _worker,
        args=(world, str(store), str(arrays), str(tmp / name), epochs, kill_after),
        nprocs=world,
        start_method="fork",
    )  # forked: the processes start without imports
    return tmp / name


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    """One real map (2566_3J6B) on a 1 A grid, min-max [0, 1], as target; a smoothed copy as input; its mirror
    image for validation; saved for the processes."""
    m = read_map(pair("2566_3J6B")["map_path"])
    y = m.resampled_on(m.origin, tuple(int(n * 1.34) for n in m.data.shape), 1.0).data
    y = (y - y.min()) / (y.max() - y.min())
    x = gaussian_filter(y, 1.0, truncate=2.0).astype(np.float32)
    arrays = tmp_path_factory.mktemp("arrays") / "pairs.npz"
    np.savez(arrays, x=x, y=y, vx=x[::-1].copy(), vy=y[::-1].copy())
    return arrays, [(x, y)], [(x[::-1].copy(), y[::-1].copy())]


@pytest.fixture(scope="module")
def runs(tmp_path_factory, data):
    """The same run in one process and, uninterrupted, in two."""
    tmp = tmp_path_factory.mktemp("ddp")
    train(TrainConfig(**CONFIG), data[1], data[2], tmp / "one")
    spawn(tmp, "two", data[0])
    return tmp


def null_space(name: str) -> bool:
    """Biases of convolutions followed by InstanceNorm (no gradient in exact arithmetic)."""
    return name.endswith(("conv1.bias", "conv2.bias", "shortcut.0.bias")) or name in {
        "convs.0.bias",
        "convs.1.bias",
        "convs.2.bias",
    }


def assert_same_run(a, b, exact: bool = False):
    """Two checkpoints of the same run: equal (``exact``) or within the tolerance of the module docstring."""
    a, b = load_checkpoint(a / CHECKPOINT), load_checkpoint(b / CHECKPOINT)
    assert a["epoch"] == b["epoch"] == 2
    lr = CONFIG.get("lr", TrainConfig.lr)
    for net in ("generator", "discriminator"):
        for k, v in a[net].items():
            tol = 0 if exact else STEPS * lr if null_space(k) else 1e-5
            torch.testing.assert_close(b[net][k], v, rtol=0, atol=tol, msg=f"{net} {k}")
    ha, hb = pd.DataFrame(a["history"]), pd.DataFrame(b["history"])
    pd.testing.assert_frame_equal(ha[LOSS_COLUMNS], hb[LOSS_COLUMNS], rtol=0 if exact else 1e-5)
    g = []
    for ckpt in (a, b):
        g.append(Generator(CONFIG["width"]))
        g[-1].load_state_dict(ckpt["generator"])
    x = torch.rand(2, 1, 32, 32, 32, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        torch.testing.assert_close(g[1](x), g[0](x), rtol=0, atol=0 if exact else 5e-5)


def test_shards_split_each_global_batch():
    order = np.arange(10)
    one = shards(order, 4, Ranks())
    assert [s.indices.tolist() for s in one] == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9]]
    assert all(s.weight == 1 and s.count == len(s.indices) for s in one)
    two = [shards(order, 4, Ranks(r, 2)) for r in range(2)]
    assert [s.indices.tolist() for s in two[0]] == [[0, 1], [4, 5], [8]]
    assert [s.indices.tolist() for s in two[1]] == [[2, 3], [6, 7], [9]]
    three = [shards(order, 4, Ranks(r, 3)) for r in range(3)]
    last = [t[2] for t in three]  # the batch [8, 9] on 3 processes: 1, 1 and a stand-in of weight 0
    assert [s.count for s in last] == [1, 1, 0] and [s.weight for s in last] == [1.5, 1.5, 0.0]
    assert last[2].indices.tolist() == [8]
    for k in range(3):  # sum of weight * (local mean) over processes / world = the global batch's mean
        assert sum(t[k].weight for t in three) == pytest.approx(3)


def test_two_processes_give_the_weights_of_one(runs):
    assert_same_run(runs / "one", runs / "two")
    assert load_checkpoint(runs / "two" / CHECKPOINT)["world_size"] == 2
    assert pd.read_csv(runs / "two" / HISTORY)["epoch"].tolist() == [1, 2]


def test_killed_after_a_checkpoint_resumes_under_ddp_and_under_one_process(runs, data):
    tmp = runs
    with pytest.raises(mp.ProcessExitedException):
        spawn(tmp, "killed", data[0], kill_after=1)
    assert load_checkpoint(tmp / "killed" / CHECKPOINT)["epoch"] == 1
    shutil.copytree(tmp / "killed", tmp / "killed_then_one")
    spawn(tmp, "killed", data[0])  # the same two processes resume
    assert_same_run(runs / "two", tmp / "killed", exact=True)
    train(TrainConfig(**CONFIG), data[1], data[2], tmp / "killed_then_one")  # a change of world size: 2 -> 1
    assert_same_run(runs / "two", tmp / "killed_then_one")


def test_nproc_and_child_errors():
    assert resolve_nproc("auto", "cpu") == resolve_nproc(None, "cpu") == 1
    assert resolve_nproc(2, "cpu") == 2
    with pytest.raises(ValueError, match="nproc must be"):
        resolve_nproc("many", "cpu")
    lines = ["[rank1]: Traceback (most recent call last):", "[rank1]: ValueError: need training patches", "done"]
    assert _cause(lines) == "[rank1]: ValueError: need training patches"
    assert _cause(["x", "s2mlib.run.train: error: bad table", "torchrun: ChildFailedError"]) == "bad table"


def test_notebook_04_trains_with_two_cpu_processes(tmp_path, data, monkeypatch):
    """The runner executes notebook 04 with nproc 2 on the CPU: torchrun, two gloo processes, the history, the
    snapshots and Figure 3 in the notebook."""
    from s2mlib.io.manifest import save_curation
    from s2mlib.run import runner

    (x, y), (vx, vy) = data[1][0], data[2][0]
    rows = []
    for entry, split, (a, b) in (("a", "train", (x, y)), ("b", "val", (vx, vy))):
        for kind, array in (("sim", a), ("exp", b)):
            write_map(DensityMap(array, (0, 0, 0), 1.0), tmp_path / "run" / "curated" / f"{entry}_{kind}.mrc")
        rows.append(
            {
                "entry": entry,
                "emdb_id": entry,
                "pdb_id": "",
                "split": split,
                "kept": True,
                "reason": "",
                "resolution": 4.0,
                "exp_map": str(tmp_path / "run" / "curated" / f"{entry}_exp.mrc"),
                "sim_map": str(tmp_path / "run" / "curated" / f"{entry}_sim.mrc"),
            }
        )
    save_curation(pd.DataFrame(rows), tmp_path / "run")
    monkeypatch.setenv("S2M_MANIFEST", str(TEST_DATA / "pairs.tsv"))
    overrides = {
        "run_dir": tmp_path / "run",
        "figures_dir": tmp_path / "figures",
        "nproc": 2,
        "device": "cpu",
        "width": 2,
        "epochs": 2,
        "batch_size": 4,
        "max_patches_per_epoch": 8,
        "max_val_patches": 4,
        "augment_backend": "device",
    }
    argv = ["--only", "04"] + [a for k, v in overrides.items() for a in ("-p", k, str(v))]
    assert runner.main(argv) == 0
    record = pd.read_json(tmp_path / "run" / "train" / "config.json", typ="series")
    assert record["world_size"] == 2 and record["command"].startswith("torchrun --nproc-per-node 2 -m s2mlib.run.train")
    assert pd.read_csv(tmp_path / "run" / "train" / HISTORY)["epoch"].tolist() == [1, 2]
    assert sorted(p.name for p in (tmp_path / "run" / "train" / "snapshots").iterdir()) == [
        "epoch_001.pt",
        "epoch_002.pt",
    ]
    assert (tmp_path / "figures" / "fig3_losses.png").exists()
    executed = (tmp_path / "run" / "notebooks" / "04_train.ipynb").read_text()
    assert "epoch 2: loss_G" in executed  # the child's progress, streamed into the notebook
