"""Tests of s2mlib.gan.augment, the paper's augmentation on a batch on the device, against TorchIO (the reference,
s2mlib.gan.patches.augmentation) on the CPU: the same parameters give TorchIO's output, and the distributions of the
draws and of the augmented patches agree."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torchio as tio
from helpers import pair
from scipy import stats

from s2mlib.gan.augment import Draw, anisotropy_matrix, augment_batch, blur_matrix, draw
from s2mlib.gan.patches import augmentation
from s2mlib.io.density import read_map

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def cube() -> torch.Tensor:
    """A real 32^3 patch (5925_3J6J on a 1 A grid, min-max [0, 1]), shape (1, 32, 32, 32)."""
    m = read_map(pair("5925_3J6J")["map_path"])
    shape = tuple(int(n * v) for n, v in zip(m.data.shape, m.voxel_size[::-1]))
    a = m.resampled_on(m.origin, shape, 1.0).data
    a = (a - a.min()) / (a.max() - a.min())
    z, y, x = (n // 2 - 16 for n in a.shape)
    return torch.from_numpy(np.ascontiguousarray(a[z : z + 32, y : y + 32, x : x + 32]))[None]


def test_anisotropy_and_blur_give_torchios_output(cube):
    """Random factors on each axis and random blur stds: equal to TorchIO's RandomAnisotropy (SimpleITK
    nearest + B-spline) and Blur (scipy) within float32 rounding. (Factors that put a coarse sample exactly half
    way between two voxels, such as 1.1, depend on ITK's floating-point rounding there and are not drawn here.)"""
    rng = np.random.default_rng(3)
    for factor in rng.uniform(1, 1.5, 4):
        for axis in range(3):
            ref = tio.RandomAnisotropy(axes=(axis,), downsampling=(factor, factor), image_interpolation="bspline", p=1)(
                cube
            )
            ours = augment_batch(cube[None], [Draw(axis, float(factor), None, None, 0)])[0]
            torch.testing.assert_close(ours, ref.float(), rtol=0, atol=1e-5)
    for _ in range(4):
        stds = tuple(float(s) for s in rng.uniform(0, 0.5, 3))
        torch.testing.assert_close(
            augment_batch(cube[None], [Draw(None, 1.0, stds, None, 0)])[0],
            tio.Blur(std=stds)(cube).float(),
            rtol=0,
            atol=1e-5,
        )


def test_matrices_edge_cases():
    np.testing.assert_allclose(anisotropy_matrix(1.0), np.eye(32), atol=1e-12)  # no downsampling: the identity
    np.testing.assert_array_equal(blur_matrix(0.0), np.eye(32))
    np.testing.assert_allclose(blur_matrix(0.4).sum(axis=1), 1)  # reflect boundaries keep the mass of every row
    assert anisotropy_matrix(1.4)[0].sum() == 0  # 22 coarse samples cover 30.8 voxels: the edge voxels fall outside
    with pytest.raises(ValueError, match="at least 1"):
        anisotropy_matrix(0.9)
    with pytest.raises(ValueError, match="one draw per patch"):
        augment_batch(torch.zeros(2, 1, 32, 32, 32), [draw(0, 0, 0)])


def test_draws_have_the_papers_distributions():
    draws = [draw(0, 0, i) for i in range(4000)]
    for fired in (
        [d.axis is not None for d in draws],
        [d.blur is not None for d in draws],
        [d.noise_std is not None for d in draws],
    ):
        assert abs(np.mean(fired) - 0.25) < 4 * np.sqrt(0.25 * 0.75 / len(draws))
    factors = [d.factor for d in draws if d.axis is not None]
    assert stats.kstest(factors, stats.uniform(1, 0.5).cdf).pvalue > 1e-3
    assert np.bincount([d.axis for d in draws if d.axis is not None], minlength=3).min() > 0.28 * len(factors)
    assert stats.kstest([s for d in draws if d.blur for s in d.blur], stats.uniform(0, 0.5).cdf).pvalue > 1e-3
    assert stats.kstest([d.noise_std for d in draws if d.noise_std], stats.uniform(0, 0.1).cdf).pvalue > 1e-3
    assert draw(0, 0, 5) == draw(0, 0, 5) != draw(0, 1, 5) and draw(1, 0, 5) != draw(0, 0, 5)


def test_noise_and_batch_independence(cube):
    noisy = augment_batch(cube[None], [Draw(None, 1.0, None, 0.05, 11)])[0] - cube
    assert abs(noisy.std().item() - 0.05) < 0.002 and abs(noisy.mean().item()) < 0.002
    draws = [draw(2, 3, i) for i in range(8)]
    batch = cube[None].repeat(8, 1, 1, 1, 1)
    together = augment_batch(batch, draws)
    for i, d in enumerate(draws):  # a patch's augmentation does not depend on the rest of its batch
        torch.testing.assert_close(augment_batch(cube[None], [d])[0], together[i], rtol=0, atol=1e-6)
    torch.testing.assert_close(batch, cube[None].repeat(8, 1, 1, 1, 1), rtol=0, atol=0)  # the input is kept


def rms_change(cube: torch.Tensor, out) -> np.ndarray:
    return np.array([(a - cube).pow(2).mean().sqrt().item() for a in out])


def test_each_transform_is_distributed_as_torchios(cube):
    """Each transform alone (p = 1), 200 times each way on one cube: the RMS change follows one distribution
    (two-sample Kolmogorov-Smirnov). Sensitivity (measured): the blur test rejects std ~ U(0, 0.55) (p < 1e-4), the
    noise test std ~ U(0, 0.11) at p 0.04; the anisotropy operator itself is pinned by the test above."""
    n = 200
    references = {
        "axis": tio.RandomAnisotropy(downsampling=1.5, image_interpolation="bspline", p=1),
        "blur": tio.RandomBlur(std=(0, 0.5), p=1),
        "noise_std": tio.RandomNoise(std=(0, 0.1), p=1),
    }
    draws = [draw(0, 0, i) for i in range(5 * n)]
    alone = {
        "axis": [Draw(d.axis, d.factor, None, None, 0) for d in draws if d.axis is not None],
        "blur": [Draw(None, 1.0, d.blur, None, 0) for d in draws if d.blur is not None],
        "noise_std": [Draw(None, 1.0, None, d.noise_std, d.noise_seed) for d in draws if d.noise_std is not None],
    }
    for name, transform in references.items():
        ref = []
        for i in range(n):
            torch.manual_seed(i)
            ref.append(transform(cube).float())
        ours = augment_batch(cube[None].repeat(n, 1, 1, 1, 1), alone[name][:n])
        assert stats.ks_2samp(rms_change(cube, ref), rms_change(cube, ours)).pvalue > 1e-3, name


def test_the_composition_is_distributed_as_torchios(cube):
    """The paper's three transforms with p 0.25 each, 300 times each way: the fraction left unchanged
    (0.75^3 = 0.42) agrees, and the RMS change of the changed ones follows one distribution."""
    n = 300
    transform = augmentation()
    ref = []
    for i in range(n):
        torch.manual_seed(1000 + i)
        ref.append(transform(cube).float())
    ours = augment_batch(cube[None].repeat(n, 1, 1, 1, 1), [draw(0, 0, i) for i in range(n)])
    change = [rms_change(cube, ref), rms_change(cube, ours)]
    assert all(abs(np.mean(c == 0) - 0.75**3) < 4 * np.sqrt(0.42 * 0.58 / n) for c in change)
    assert stats.ks_2samp(change[0][change[0] > 0], change[1][change[1] > 0]).pvalue > 1e-3
