"""The paper's input augmentation applied to a whole batch on the training device (GPU or CPU), without TorchIO.

The reference is TorchIO (:func:`s2mlib.gan.patches.augmentation`, run per patch in the loader workers):
RandomAnisotropy (axis uniform in {0, 1, 2}, downsampling m ~ U(1, 1.5), nearest-neighbour downsampling then cubic
B-spline interpolation back, SimpleITK), RandomBlur (std ~ U(0, 0.5) per axis, ``scipy.ndimage.gaussian_filter``, mode
'reflect', truncate 4) and RandomNoise (std ~ U(0, 0.1), N(0, std^2) per voxel), each with p = 0.25, in that order.
The paper uses no flips or rotations, so there are none here.

Anisotropy and blur act on one axis at a time and linearly, so each is a 32 x 32 matrix along its axis, and their
product per axis (blur after anisotropy) is applied to the batch with one batched matrix product per axis:

- anisotropy along an axis of n voxels with factor m (TorchIO's ``Resample`` geometry): k = floor(n / m) coarse
  samples at p_j = (n - 1) / 2 + (j - (k - 1) / 2) m, each the nearest fine voxel (round half up, ITK); cubic
  B-spline coefficients c with B c = s (B the tridiagonal [1, 4, 1] / 6 with mirror boundaries, ITK's
  BSplineDecompositionImageFilter); the fine voxel i at u = (i - p_0) / m reads sum_k c_k beta3(u - k) (mirror
  boundaries), or 0 when u is outside [-0.5, k - 0.5) (ITK's ResampleImageFilter default value);
- blur with std s: the normalised Gaussian exp(-x^2 / 2 s^2) on x = -r..r, r = int(4 s + 0.5), 'reflect' boundaries
  (d c b a | a b c d); the identity for s = 0.

Everything random for a patch comes from ``(seed, epoch, index)`` (:func:`draw`), as for the TorchIO path, so the
batch composition, the process and the number of processes do not change a patch's augmentation. The noise is drawn
on the device from a per-patch seed, so CPU and CUDA give different (equally distributed) noise. Tested against
TorchIO on the CPU: the same matrices give TorchIO's output for the same parameters, and the distributions agree
(tests/test_augment.py).

Example:
    >>> import torch
    >>> x = torch.rand(4, 1, 32, 32, 32)
    >>> augment_batch(x, [draw(0, 0, i) for i in range(4)]).shape
    torch.Size([4, 1, 32, 32, 32])
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

PROBABILITY = 0.25  # each transform's probability (the paper's TorchIO set-up)
DOWNSAMPLING = (1.0, 1.5)  # RandomAnisotropy's factor range
BLUR_STD = (0.0, 0.5)  # RandomBlur's std range (voxels of 1 A), per axis
NOISE_STD = (0.0, 0.1)  # RandomNoise's std range
TRUNCATE = 4.0  # scipy.ndimage.gaussian_filter's default kernel half-width, in stds
STREAM = 2  # the last seed word of the device draw (1 is PatchDataset's target-resolution draw)


@dataclass(frozen=True)
class Draw:
    """One patch's augmentation: ``axis`` and ``factor`` of the anisotropy (axis None: not applied), the three blur
    stds (None: not applied), the noise std (None: not applied) and the seed of the noise."""

    axis: int | None
    factor: float
    blur: tuple[float, float, float] | None
    noise_std: float | None
    noise_seed: int

    def matrices(self, n: int = 32) -> np.ndarray:
        """The (3, n, n) float64 matrix along each axis (blur after anisotropy); identities where nothing applies."""
        out = np.stack([np.eye(n)] * 3)
        if self.axis is not None:
            out[self.axis] = anisotropy_matrix(self.factor, n)
        if self.blur is not None:
            for a, std in enumerate(self.blur):
                out[a] = blur_matrix(std, n) @ out[a]
        return out

    @property
    def linear(self) -> bool:
        """True when anisotropy or blur applies (the matrices are not all identities)."""
        return self.axis is not None or self.blur is not None


def draw(seed: int, epoch: int, index: int) -> Draw:
    """The augmentation of patch ``index`` in ``epoch``: every number from ``default_rng([seed, epoch, index, 2])``,
    in a fixed order, so the draw is the same whatever else is drawn."""
    rng = np.random.default_rng([int(seed), int(epoch), int(index), STREAM])
    fire = rng.random(3) < PROBABILITY
    axis, factor = int(rng.integers(3)), float(rng.uniform(*DOWNSAMPLING))
    sx, sy, sz = (float(s) for s in rng.uniform(*BLUR_STD, size=3))
    noise_std, noise_seed = float(rng.uniform(*NOISE_STD)), int(rng.integers(2**63 - 1))
    return Draw(
        axis if fire[0] else None, factor, (sx, sy, sz) if fire[1] else None, noise_std if fire[2] else None, noise_seed
    )


def _mirror(k: int, n: int) -> int:
    """ITK's mirror boundary for B-spline indices: ... 2 1 | 0 1 2 ... n-1 | n-2 ..."""
    if n == 1:
        return 0
    period = 2 * (n - 1)
    k = abs(k) % period
    return period - k if k >= n else k


def _bspline3(t: float) -> float:
    t = abs(t)
    return 2 / 3 - t * t + t**3 / 2 if t < 1 else (2 - t) ** 3 / 6 if t < 2 else 0.0


def anisotropy_matrix(factor: float, n: int = 32) -> np.ndarray:
    """(n, n) matrix of TorchIO's RandomAnisotropy along one axis (module docstring): nearest-neighbour
    downsampling by ``factor`` then cubic B-spline interpolation back onto the n voxels."""
    if not factor >= 1:
        raise ValueError(f"the downsampling factor must be at least 1, got {factor}")
    k = int(math.floor(n / factor))
    centres = (n - 1) / 2 + (np.arange(k) - (k - 1) / 2) * factor
    down = np.zeros((k, n))
    down[np.arange(k), np.floor(centres + 0.5).astype(int)] = 1
    spline = np.zeros((k, k))  # B c = s: s_j = (c_{j-1} + 4 c_j + c_{j+1}) / 6, mirror boundaries
    for j in range(k):
        for offset, weight in ((-1, 1 / 6), (0, 4 / 6), (1, 1 / 6)):
            spline[j, _mirror(j + offset, k)] += weight
    up = np.zeros((n, k))
    for i in range(n):
        u = (i - centres[0]) / factor
        if not -0.5 <= u < k - 0.5:
            continue  # outside the downsampled image: ITK's default value 0
        first = math.floor(u) - 1
        for j in range(first, first + 4):
            up[i, _mirror(j, k)] += _bspline3(u - j)
    return up @ np.linalg.solve(spline, down)


def blur_matrix(std: float, n: int = 32) -> np.ndarray:
    """(n, n) matrix of ``scipy.ndimage.gaussian_filter1d(std)`` with mode 'reflect' and truncate 4."""
    if std <= 1e-15:
        return np.eye(n)
    radius = int(TRUNCATE * std + 0.5)
    offsets = np.arange(-radius, radius + 1)
    kernel = np.exp(-0.5 * offsets**2 / std**2)
    kernel /= kernel.sum()
    out = np.zeros((n, n))
    for i in range(n):
        for offset, weight in zip(offsets, kernel):
            j = i + offset
            j = -j - 1 if j < 0 else 2 * n - 1 - j if j >= n else j
            out[i, j] += weight
    return out


def augment_batch(x: torch.Tensor, draws: Sequence[Draw]) -> torch.Tensor:
    """The batch ``x`` (B, 1, n, n, n) with each patch augmented by its :class:`Draw` (a new tensor; ``x`` is kept):
    per axis one batched product with the patches' matrices, then the noise."""
    if x.ndim != 5 or x.shape[1] != 1 or len(set(x.shape[2:])) != 1 or len(draws) != len(x):
        raise ValueError(
            f"need a (B, 1, n, n, n) batch and one draw per patch, got {tuple(x.shape)} and {len(draws)} draws"
        )
    n = x.shape[-1]
    out = x.clone()
    linear = [b for b, d in enumerate(draws) if d.linear]
    if linear:
        mats = torch.from_numpy(np.stack([draws[b].matrices(n) for b in linear])).to(x.device, torch.float32)
        rows = torch.tensor(linear, device=x.device)
        block = out[rows].float()
        for axis in range(3):
            moved = block.movedim(2 + axis, -1)  # (b, 1, n, n, n) with this axis last
            block = (moved @ mats[:, axis].transpose(-1, -2)[:, None, None]).movedim(-1, 2 + axis)
        out[rows] = block.to(out.dtype)
    for b, d in enumerate(draws):
        if d.noise_std is not None:
            generator = torch.Generator(device=x.device).manual_seed(d.noise_seed)
            out[b, 0] += d.noise_std * torch.randn(
                out.shape[2:], generator=generator, device=x.device, dtype=torch.float32
            ).to(out.dtype)
    return out
