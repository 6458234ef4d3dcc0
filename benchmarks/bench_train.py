"""Training and inference throughput of the struc2mapGAN networks (patches of 32^3 per second).

    python benchmarks/bench_train.py                 # paper width 32, CPU, batch 8, 2 timed steps, 2 threads
    python benchmarks/bench_train.py --steps 5 --threads 1
    python benchmarks/bench_train.py --gpu-only --real --workers 12   # on a GPU machine: bare steps and real training

Prints: G+D training step throughput (s2mlib.gan.train.GAN.step), generator inference throughput (no grad), the
input pipeline's throughput (PatchDataset with the paper's augmentation, one process), and, when CUDA exists,
the same on the GPU plus peak GPU memory of a training step at batch 128 (fp32, bf16, channels-last-3D, and both;
bf16 with torch.compile, and with CUDA graphs through torch.compile's 'reduce-overhead'). With ``--real``: real
training (s2mlib.gan.train.train: loader workers, augmentation, transfers, the step; validation excluded) on a real map
tiled to 240 x 260 x 260 voxels, the second epoch's patches/s, for the TorchIO and the device augmentation, and
(on a GPU) bf16, compile and batch 128 / 256.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch
from timing import machine_line

from s2mlib.gan.model import place
from s2mlib.gan.patches import PatchDataset
from s2mlib.gan.train import GAN, TrainConfig, train

SHARED_MAP = Path(__file__).resolve().parents[2] / "shared" / "data" / "pairs" / "2513_4CI0_b" / "emd_2513.mrc.gz"


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def train_rate(cfg: TrainConfig, device: torch.device, batch: int, steps: int, mode: str | None = None) -> float:
    """Patches per second of G+D training steps (one warm-up step not timed; three with compile). ``mode``: compile
    G and D with this torch.compile mode ('default', 'reduce-overhead' = CUDA graphs)."""
    gan = GAN.build(cfg, device)
    if mode is not None:
        gan.step_g, gan.step_d = torch.compile(gan.generator, mode=mode), torch.compile(gan.discriminator, mode=mode)
        gan.adversary = torch.compile(gan.discriminator, mode=mode)
    x = place(torch.rand(batch, 1, 32, 32, 32), device, cfg.channels_last)
    y = place(torch.rand(batch, 1, 32, 32, 32), device, cfg.channels_last)
    for _ in range(1 if mode is None else 3):
        gan.step(x, y, cfg)
    _sync(device)
    t0 = time.perf_counter()
    for _ in range(steps):
        gan.step(x, y, cfg)
    _sync(device)
    return batch * steps / (time.perf_counter() - t0)


@torch.no_grad()
def inference_rate(cfg: TrainConfig, device: torch.device, batch: int, steps: int) -> float:
    """Patches per second of generator forward passes (one warm-up batch not timed)."""
    g = GAN.build(cfg, device).generator.eval()
    x = place(torch.rand(batch, 1, 32, 32, 32), device, cfg.channels_last)
    with torch.autocast(device.type, dtype=torch.bfloat16, enabled=cfg.precision == "bf16"):
        g(x)
        _sync(device)
        t0 = time.perf_counter()
        for _ in range(steps):
            g(x)
        _sync(device)
    return batch * steps / (time.perf_counter() - t0)


def shared_map() -> np.ndarray | None:
    """The real map of SHARED_MAP on a 1 A grid, min-max [0, 1] (None if absent)."""
    if not SHARED_MAP.exists():
        return None
    from s2mlib.io.density import read_map

    m = read_map(SHARED_MAP)
    a = m.resampled_on(m.origin, tuple(int(s * v) for s, v in zip(m.data.shape, m.voxel_size[::-1])), 1.0).data
    return (a - a.min()) / (a.max() - a.min())


def real_rate(cfg: TrainConfig, batch: int, steps: int) -> float | None:
    """Patches per second of real training (:func:`s2mlib.gan.train.train`, the second of two epochs of ``steps`` steps,
    validation excluded) on the real map tiled to 240 x 260 x 260 voxels (2,028 patches)."""
    a = shared_map()
    if a is None:
        return None
    tiled = np.pad(a, [(0, max(0, s - n)) for s, n in zip((240, 260, 260), a.shape)], mode="wrap")[:240, :260, :260]
    pairs = [(np.ascontiguousarray(tiled), np.ascontiguousarray(tiled))]
    run = replace(
        cfg, epochs=2, batch_size=batch, max_patches_per_epoch=batch * steps, max_val_patches=batch, progress=False
    )
    with tempfile.TemporaryDirectory() as folder:
        return float(train(run, pairs, pairs, folder)["patches_per_s"].iloc[-1])


def pipeline_rate(n: int) -> float | None:
    """Patches per second of PatchDataset.__getitem__ with augmentation, on a real map (None if absent)."""
    a = shared_map()
    if a is None:
        return None
    ds = PatchDataset([(a, a)], augment=True)
    idx = np.random.default_rng(0).integers(0, len(ds), n)
    t0 = time.perf_counter()
    for i in idx:
        ds[int(i)]
    return n / (time.perf_counter() - t0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--width", type=int, default=32)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--steps", type=int, default=2)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--gpu-only", action="store_true", help="skip the CPU figures")
    parser.add_argument("--real", action="store_true", help="also time real training (data included)")
    parser.add_argument("--workers", type=int, default=2, help="loader workers for --real")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    cpu = torch.device("cpu")
    cfg = TrainConfig(width=args.width)
    print(machine_line(precision="fp32"))
    print(f"torch {torch.__version__}, {args.threads} CPU threads, width {args.width}, batch {args.batch}")
    if not args.gpu_only:
        print(f"CPU train (G+D step): {train_rate(cfg, cpu, args.batch, args.steps):8.2f} patches/s")
        print(f"CPU inference (G):    {inference_rate(cfg, cpu, args.batch, args.steps):8.2f} patches/s")
        rate = pipeline_rate(200)
        if rate is not None:
            print(f"CPU input pipeline (cut + augment, 1 process): {rate:8.1f} patches/s")
        if args.real:
            for backend in ("torchio", "device"):
                c = replace(cfg, device="cpu", augment_backend=backend, num_workers=args.workers)
                print(
                    f"CPU real training, {backend} augmentation, {args.workers} workers, batch {args.batch}: "
                    f"{real_rate(c, args.batch, args.steps):8.2f} patches/s"
                )
    if not torch.cuda.is_available():
        print("CUDA not available: no GPU figures")
        return
    gpu = torch.device("cuda")
    print(f"GPU: {torch.cuda.get_device_name(0)}")
    variants = [
        (False, False, False),
        (True, False, False),
        (False, True, False),
        (True, True, False),
        (False, False, True),
        (True, False, True),
        (True, True, True),
    ]
    for bf16, channels_last, benchmark in variants:
        torch.backends.cudnn.benchmark = benchmark
        c = TrainConfig(width=args.width, precision="bf16" if bf16 else "fp32", channels_last=channels_last)
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats()
        rate = train_rate(c, gpu, 128, max(args.steps, 5))
        peak = torch.cuda.max_memory_allocated() / 2**30
        infer = inference_rate(c, gpu, 128, max(args.steps, 5))
        print(
            f"GPU bf16={bf16} channels_last={channels_last} cudnn.benchmark={benchmark}: train {rate:8.1f} "
            f"patches/s, peak memory {peak:.2f} GiB at batch 128; inference {infer:8.1f} patches/s"
        )
    torch.backends.cudnn.benchmark = False
    for mode in ("default", "reduce-overhead"):
        for batch in (128, 256):
            rate = train_rate(TrainConfig(width=args.width, precision="bf16"), gpu, batch, max(args.steps, 5), mode)
            print(f"GPU bf16 + torch.compile(mode={mode!r}), batch {batch}: train {rate:8.1f} patches/s", flush=True)
    if args.real:
        for backend, compiled, batch in (
            ("torchio", False, 128),
            ("device", False, 128),
            ("device", True, 128),
            ("device", True, 256),
        ):
            c = TrainConfig(
                width=args.width,
                precision="bf16",
                compile=compiled,
                augment_backend=backend,
                num_workers=args.workers,
                device="cuda",
            )
            print(
                f"GPU real training, bf16, {backend} augmentation, compile={compiled}, {args.workers} workers, "
                f"batch {batch}: {real_rate(c, batch, max(args.steps, 10)):8.1f} patches/s",
                flush=True,
            )


if __name__ == "__main__":
    main()
