"""Training and inference throughput of the struc2mapGAN networks (patches of 32^3 per second).

    python benchmarks/bench_train.py                 # paper width 32, CPU, batch 8, 2 timed steps, 2 threads
    python benchmarks/bench_train.py --steps 5 --threads 1

Prints: G+D training step throughput (s2mlib.train.GAN.step), generator inference throughput (no grad), the
input pipeline's throughput (PatchDataset with the paper's augmentation, one process), and, when CUDA exists,
the same on the GPU plus peak GPU memory of a training step at batch 128 (fp32, bf16, channels-last-3D, and both).
"""
from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import torch

from s2mlib.model import place
from s2mlib.patches import PatchDataset
from s2mlib.train import GAN, TrainConfig

SHARED_MAP = Path(__file__).resolve().parents[2] / "shared" / "data" / "pairs" / "2513_4CI0_b" / "emd_2513.mrc.gz"


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def train_rate(cfg: TrainConfig, device: torch.device, batch: int, steps: int) -> float:
    """Patches per second of G+D training steps (one warm-up step not timed)."""
    gan = GAN.build(cfg, device)
    x = place(torch.rand(batch, 1, 32, 32, 32), device, cfg.channels_last)
    y = place(torch.rand(batch, 1, 32, 32, 32), device, cfg.channels_last)
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
    with torch.autocast(device.type, dtype=torch.bfloat16, enabled=cfg.bf16):
        g(x)
        _sync(device)
        t0 = time.perf_counter()
        for _ in range(steps):
            g(x)
        _sync(device)
    return batch * steps / (time.perf_counter() - t0)


def pipeline_rate(n: int) -> float | None:
    """Patches per second of PatchDataset.__getitem__ with augmentation, on a real map (None if absent)."""
    if not SHARED_MAP.exists():
        return None
    from s2mlib.io import read_map

    m = read_map(SHARED_MAP)
    a = m.resampled_on(m.origin, tuple(int(s * v) for s, v in zip(m.data.shape, m.voxel_size[::-1])), 1.0).data
    a = (a - a.min()) / (a.max() - a.min())
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
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    cpu = torch.device("cpu")
    cfg = TrainConfig(width=args.width)
    print(f"torch {torch.__version__}, {args.threads} CPU threads, width {args.width}, batch {args.batch}")
    if not args.gpu_only:
        print(f"CPU train (G+D step): {train_rate(cfg, cpu, args.batch, args.steps):8.2f} patches/s")
        print(f"CPU inference (G):    {inference_rate(cfg, cpu, args.batch, args.steps):8.2f} patches/s")
        rate = pipeline_rate(200)
        if rate is not None:
            print(f"CPU input pipeline (cut + augment, 1 process): {rate:8.1f} patches/s")
    if not torch.cuda.is_available():
        print("CUDA not available: no GPU figures")
        return
    gpu = torch.device("cuda")
    print(f"GPU: {torch.cuda.get_device_name(0)}")
    variants = [(False, False, False), (True, False, False), (False, True, False), (True, True, False),
                (False, False, True), (True, False, True), (True, True, True)]
    for bf16, channels_last, benchmark in variants:
        torch.backends.cudnn.benchmark = benchmark
        c = TrainConfig(width=args.width, bf16=bf16, channels_last=channels_last)
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats()
        rate = train_rate(c, gpu, 128, max(args.steps, 5))
        peak = torch.cuda.max_memory_allocated() / 2**30
        infer = inference_rate(c, gpu, 128, max(args.steps, 5))
        print(f"GPU bf16={bf16} channels_last={channels_last} cudnn.benchmark={benchmark}: train {rate:8.1f} patches/s, "
              f"peak memory {peak:.2f} GiB at batch 128; inference {infer:8.1f} patches/s")


if __name__ == "__main__":
    main()
