"""The training data pipeline at the paper's scale, simulated on the CPU (run by hand; writes under --work).

    python benchmarks/bench_scale.py                        # 200 maps of 240 x 260 x 260 voxels: 405,600 patches
    python benchmarks/bench_scale.py --maps 20 --workers 2  # a quicker look

The shared pairs (../shared/data) are curated as the default profile does (reused when done), each curated pair is
tiled periodically to --shape (the paper's ~2,000 cubes per map) and written once, and --maps pairs of hard links
to those files make a paper-size training split (403,710 patches in the paper): a dataset of that many distinct
map files, memory-mapped (:func:`s2mlib.gan.patches.load_pairs` with ``mmap=True``, as training does). Printed:

- the dataset: build time, patches, peak resident anonymous memory (RssAnon: what the process owns; the mapped
  files' pages are the OS's page cache, shared and reclaimable) against the maps held in memory;
- the loader: patches/s of one process cutting patches (what a worker does for the device augmentation), the
  TorchIO augmentation's cost per patch (the reference path's workers), and a DataLoader with --workers workers
  (peak RssAnon of the main process and its workers together);
- the device augmentation on this CPU (s2mlib.gan.augment: the host's draws and matrices, and the batch arithmetic);
- the workers each GPU needs to be fed at the measured H100 rates, and the paper profile's epoch and total time on
  1, 8 and 64 GPUs from those rates (estimates: linear DDP scaling assumed, not measured).

Hard links share one file's pages between maps, so the page cache this needs is smaller than for 200 distinct maps;
the anonymous memory, which is what grows with the number of maps in memory, is measured as for distinct files.
"""

from __future__ import annotations

import argparse
import os
import threading
import time
from pathlib import Path

import numpy as np
import pandas as pd
import psutil
import torch
from timing import machine_line

ROOT = Path(__file__).resolve().parents[1]
MANIFEST = ROOT.parent / "shared" / "data" / "pairs.tsv"
PAPER_PATCHES, PAPER_EPOCHS = 403_710, 150
H100_RATES = {
    "H100 real training, TorchIO, 12 workers (measured)": 164.0,
    "H100 bare bf16 step, batch 128 (measured)": 227.0,
    "goal: the paper's 8 A100s": 528.0,
}


class PeakAnon:
    """Peak RssAnon (bytes) of this process plus its children, sampled every 20 ms while in a ``with`` block."""

    def __init__(self) -> None:
        self.peak, self._stop = 0, threading.Event()

    @staticmethod
    def now() -> int:
        total = 0
        me = psutil.Process()
        for proc in [me, *me.children(recursive=True)]:
            try:
                with open(f"/proc/{proc.pid}/status") as fh:
                    total += next(int(line.split()[1]) * 1024 for line in fh if line.startswith("RssAnon:"))
            except (OSError, StopIteration):
                pass
        return total

    def _run(self) -> None:
        while not self._stop.wait(0.02):
            self.peak = max(self.peak, self.now())

    def __enter__(self) -> PeakAnon:
        self.peak = self.now()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, self.now())


def curated(work: Path) -> pd.DataFrame:
    """The shared pairs curated as the default profile does (kept entries), reused when already there."""
    from s2mlib.io.manifest import CURATION_TABLE, load_curation, load_manifest, save_curation
    from s2mlib.run.config import load_profile
    from s2mlib.study.curate import CurationConfig, curate_manifest

    if not (work / CURATION_TABLE).exists():
        params = load_profile("default", {"manifest": str(MANIFEST)})
        save_curation(
            curate_manifest(
                load_manifest(MANIFEST), work / "curated", CurationConfig.from_params(params), progress=True
            ),
            work,
        )
    table = load_curation(work)
    return table[table["kept"]].reset_index(drop=True)


def tiles(table: pd.DataFrame, shape: tuple[int, int, int], work: Path) -> list[tuple[Path, Path]]:
    """Each curated pair tiled periodically (np.pad, mode 'wrap') to ``shape``, written once."""
    from s2mlib.io.density import DensityMap, read_map, write_map

    out = []
    for row in table.itertuples():
        paths = tuple(work / "tiles" / f"{row.entry}_{'x'.join(map(str, shape))}_{kind}.mrc" for kind in ("sim", "exp"))
        if not all(p.exists() for p in paths):
            for path, source in zip(paths, (row.sim_map, row.exp_map)):
                data = read_map(source).data
                tiled = np.pad(data, [(0, max(0, s - n)) for s, n in zip(shape, data.shape)], mode="wrap")
                write_map(
                    DensityMap(np.ascontiguousarray(tiled[: shape[0], : shape[1], : shape[2]]), (0, 0, 0), 1.0), path
                )
        out.append(paths)
    return out


def paper_set(sources: list[tuple[Path, Path]], n_maps: int, work: Path) -> tuple[pd.DataFrame, Path]:
    """A curation table of ``n_maps`` training pairs, hard links to the tiled files in turn."""
    folder = work / f"set_{n_maps}"
    folder.mkdir(parents=True, exist_ok=True)
    rows = []
    for i in range(n_maps):
        names = []
        for kind, source in zip(("sim", "exp"), sources[i % len(sources)]):
            link = folder / f"m{i:04d}_{kind}.mrc"
            if not link.exists():
                os.link(source, link)
            names.append(link.name)
        rows.append({"entry": f"m{i:04d}", "split": "train", "kept": True, "sim_map": names[0], "exp_map": names[1]})
    return pd.DataFrame(rows), folder


def rate(fn, n: int) -> float:
    """Calls of ``fn(i)`` per second over i = 0 .. n-1."""
    t0 = time.perf_counter()
    for i in range(n):
        fn(i)
    return n / (time.perf_counter() - t0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--maps", type=int, default=200)
    parser.add_argument("--shape", type=int, nargs=3, default=[240, 260, 260], help="voxels of each tiled map")
    parser.add_argument("--work", type=Path, default=ROOT / "runs" / "bench_scale")
    parser.add_argument("--workers", type=int, default=2, help="DataLoader workers for the loader figures")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (the machine is shared)")
    parser.add_argument("--samples", type=int, default=400, help="patches per single-process rate")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    print(machine_line())
    from torch.utils.data import DataLoader

    from s2mlib.gan.augment import augment_batch, draw
    from s2mlib.gan.patches import PatchDataset, augmentation

    print(
        f"torch {torch.__version__}, {args.threads} thread(s); {os.cpu_count()} cores, load average "
        f"{os.getloadavg()[0]:.1f}; {args.maps} maps of {' x '.join(map(str, args.shape))} voxels"
    )
    sources = tiles(curated(args.work), tuple(args.shape), args.work)
    table, folder = paper_set(sources, args.maps, args.work)

    with PeakAnon() as build:
        t0 = time.perf_counter()
        ds = PatchDataset.from_table(table, "train", root=folder, mmap=True, keep_empty=True)
        build_s = time.perf_counter() - t0
    in_memory = args.maps * 2 * int(np.prod(args.shape)) * 4
    print(
        f"\ndataset: {len(ds):,} patches from {args.maps} maps ({ds.n_empty:,} empty) built in {build_s:.0f} s; "
        f"peak RssAnon {build.peak / 2**20:.0f} MiB; index {ds.index.nbytes / 2**20:.1f} MiB; the same maps in "
        f"memory: {in_memory / 2**30:.1f} GiB"
    )

    rng = np.random.default_rng(0)
    picks = rng.integers(0, len(ds), args.samples)
    cut = rate(lambda i: ds[int(picks[i])], args.samples)
    transform = augmentation()
    patches = [ds[int(i)][0] for i in picks[: args.samples // 2]]
    torchio_s = 1 / rate(lambda i: transform(patches[i]), len(patches))
    torchio = 1 / (1 / cut + torchio_s)
    print(
        f"one process: cut {cut:,.0f} patches/s; TorchIO augmentation {1e3 * torchio_s:.2f} ms/patch -> cut + "
        f"TorchIO {torchio:,.0f} patches/s"
    )

    order = rng.permutation(len(ds))[: 128 * 12]
    batches = [order[i : i + 128].tolist() for i in range(0, len(order), 128)]
    with PeakAnon() as loading:
        t0 = time.perf_counter()
        for _ in DataLoader(ds, batch_sampler=batches, num_workers=args.workers):
            pass
        loader_rate = len(order) / (time.perf_counter() - t0)
    print(
        f"DataLoader, {args.workers} workers, batch 128, cut only: {loader_rate:,.0f} patches/s; peak RssAnon "
        f"(main + workers) {loading.peak / 2**20:.0f} MiB"
    )

    x = torch.stack([ds[int(i)][0] for i in order[:128]])
    host = rate(lambda i: [d.matrices() for d in [draw(0, 0, int(order[i]))] if d.linear], 1000)
    draws = [draw(0, 0, int(i)) for i in order[:128]]
    device_cpu = 128 * rate(lambda i: augment_batch(x, draws), 3)
    print(
        f"device augmentation: host draws + matrices {host:,.0f} patches/s (one thread); batch arithmetic on this "
        f"CPU {device_cpu:,.0f} patches/s ({args.threads} thread(s)); on a GPU: not measured (no GPU here)"
    )

    print("\nworkers per GPU to feed it (GPU rate / one worker's rate):")
    print(f"| GPU rate (patches/s) | TorchIO path ({torchio:,.0f}/worker) | device path ({cut:,.0f}/worker) |")
    print("| --- | ---: | ---: |")
    for name, r in H100_RATES.items():
        print(f"| {name}: {r:.0f} | {r / torchio:.1f} | {r / cut:.2f} |")

    print(f"\npaper profile: {PAPER_PATCHES:,} patches x {PAPER_EPOCHS} epochs (linear scaling assumed)")
    print("| GPUs | per-GPU rate | epoch | 150 epochs |")
    print("| ---: | --- | ---: | ---: |")
    for gpus in (1, 8, 64):
        for name, r in H100_RATES.items():
            epoch = PAPER_PATCHES / (gpus * r)
            print(
                f"| {gpus} | {r:.0f} ({name.split(':')[0].split(',')[0]}) | {epoch:,.0f} s | "
                f"{epoch * PAPER_EPOCHS / 3600:,.1f} h |"
            )


if __name__ == "__main__":
    main()
