"""Templates and projections (s2mlib.gan.templates, s2m template, s2m projections) on real maps and models.

Oracles: the CTF formula written out by hand (wavelength, defocus and Cs terms) for where its zeros lie; pytme's own
CTF and its own template preparation (Density.resample, scipy's zoom); projections summed in real space after a
scipy spline rotation (not torch-fourier-slice, which the code uses)."""

from __future__ import annotations

import math
from importlib.util import find_spec

import mrcfile
import numpy as np
import pandas as pd
import pytest
from helpers import TEST_DATA
from scipy.ndimage import map_coordinates

from s2mlib.cli import main
from s2mlib.errors import InputError
from s2mlib.gan.templates import (
    CtfParams,
    ctf,
    frequency,
    make_template,
    model_centre,
    project,
    projection_angles,
    read_angles,
    rotation_matrices,
    template_from_model,
)
from s2mlib.io.atoms import read_structure
from s2mlib.io.density import DensityMap, read_map
from s2mlib.sim.maps import lowpass

# skipped, not imported, when missing: importing them at collection put native libraries in the process early
pytestmark = pytest.mark.skipif(
    any(find_spec(m) is None for m in ("tme", "torch_fourier_slice", "torch_ctf", "starfile")),
    reason="needs the [templates] extra (pytme, torch-fourier-slice, torch-ctf, starfile)",
)

PAIR = TEST_DATA / "pairs" / "5925_3J6J"
MODEL, MAP = PAIR / "5925_native.pdb.gz", PAIR / "5925.mrc.gz"


def hand_wavelength(kv: float) -> float:
    """lambda = h / sqrt(2 m0 e V (1 + e V / (2 m0 c^2))) in A (CODATA 2018 constants; V in volts)."""
    h, m0, e, c = 6.62607015e-34, 9.1093837015e-31, 1.602176634e-19, 299792458.0
    v = kv * 1e3
    return h / math.sqrt(2 * m0 * e * v * (1 + e * v / (2 * m0 * c * c))) * 1e10


def hand_zeros(p: CtfParams, k_max: float) -> list[float]:
    """k (1/A) where chi(k) + phase_A = n pi, chi = pi lambda Df k^2 - pi/2 Cs lambda^3 k^4, solved for k^2."""
    lam, df, cs = hand_wavelength(p.voltage_kv), p.defocus_um * 1e4, p.cs_mm * 1e7
    phase = math.atan(p.amplitude_contrast / math.sqrt(1 - p.amplitude_contrast**2))
    a, b = 0.5 * math.pi * cs * lam**3, math.pi * lam * df  # a k^4 - b k^2 + (n pi - phase) = 0
    zeros = []
    for n in range(1, 200):
        disc = b * b - 4 * a * (n * math.pi - phase)
        if disc < 0:
            break
        k = math.sqrt((b - math.sqrt(disc)) / (2 * a))
        if k > k_max:
            break
        zeros.append(k)
    return zeros


def test_a_template_of_a_real_model_has_the_pixel_size_and_box_asked_for(tmp_path):
    out = tmp_path / "t.mrc"
    mask = tmp_path / "mask.mrc"
    args = ["template", str(MODEL), "-o", str(out), "--pixel-size", "4.5", "--box", "25", "--mask", str(mask)]
    assert main([*args, "--ctf", "2.5", "--invert", "--method", "gan"]) == 0
    template = read_map(out)
    assert template.shape_xyz == (25, 25, 25)
    assert np.allclose(template.voxel_size, 4.5)
    centre = template.index_to_world([[12, 12, 12]])[0]  # voxel box // 2 lies on the model's mean atom position
    assert np.allclose(centre, model_centre(read_structure(MODEL)), atol=1e-3)
    assert read_map(mask).shape_xyz == (25, 25, 25)
    default = tmp_path / "d.mrc"
    assert main(["template", str(MODEL), "-o", str(default), "--pixel-size", "6", "--method", "molmap"]) == 0
    n = read_map(default).shape_xyz[0]
    assert n % 2 == 1 and n * 6 >= 2 * np.linalg.norm(read_structure(MODEL).xyz - centre, axis=1).max()
    shaped = tmp_path / "shape.mrc"
    assert main(["template", str(MAP), "-o", str(default), "--pixel-size", "6", "--mask", str(shaped),
                 "--mask-shape", "shape"]) == 0  # fmt: skip
    soft = read_map(shaped).data
    assert soft.max() == 1.0 and soft.min() == 0.0 and 0.05 < (soft > 0.5).mean() < 0.9


def test_the_ctf_has_its_zeros_where_the_formula_puts_them():
    p = CtfParams(defocus_um=2.0, voltage_kv=300.0, cs_mm=2.7, amplitude_contrast=0.07)
    from scipy.optimize import brentq

    assert abs(hand_wavelength(300.0) - 0.019687) < 1e-6
    zeros = hand_zeros(p, 1 / 4.0)
    assert len(zeros) >= 4
    for k in zeros:  # our CTF's own zero, bracketed near the formula's, lies where the formula puts it
        step = 1e-3 * k
        found = brentq(lambda q: float(ctf(np.array([q]), p)[0]), k - step, k + step, xtol=1e-12)
        assert abs(found - k) < 1e-6 * k
    between = np.array([0.5 * (a + b) for a, b in zip([0.0, *zeros], zeros)])
    signs = np.sign(ctf(between, p))
    assert np.all(signs[:-1] == -signs[1:]) and signs[0] > 0  # alternating, positive before the first zero


def test_a_template_with_ctf_changes_sign_at_the_formulas_zeros():
    """The template's Fourier transform with the CTF over the one without, per coefficient, is the CTF: it changes
    sign exactly across the hand-computed zeros (a real map, 2 A pixels, 120 A box)."""
    p = CtfParams(defocus_um=1.5)
    density = read_map(MAP)
    plain = make_template(density, 2.0, 61)
    with_ctf = make_template(density, 2.0, 61, ctf_params=p)
    ratio = np.fft.rfftn(with_ctf.data.astype(np.float64)) / np.fft.rfftn(plain.data.astype(np.float64))
    k = frequency(plain.data.shape, 2.0)
    strong = np.abs(np.fft.rfftn(plain.data)) > 1e-5 * np.abs(np.fft.rfftn(plain.data)).max()
    zeros = hand_zeros(p, 0.9 / 4.0)  # inside the low-pass band (R = 4 A)
    assert len(zeros) >= 3
    edges = [0.0, *zeros, 0.9 / 4.0]
    for i, (lo, hi) in enumerate(zip(edges, edges[1:])):
        band = strong & (k > lo + 0.002) & (k < hi - 0.002)
        assert band.sum() > 10, f"shell {i}: {lo:.4f}-{hi:.4f} 1/A holds no coefficient"
        assert np.all(np.sign(ratio.real[band]) == (1 if i % 2 == 0 else -1)), f"shell {i}: {lo:.4f}-{hi:.4f} 1/A"


def test_the_ctf_equals_pytmes():
    from tme.filters.ctf import create_ctf

    p = CtfParams(defocus_um=3.0, voltage_kv=200.0, cs_mm=2.7, amplitude_contrast=0.1)
    shape = (40, 36, 32)
    theirs = create_ctf(shape, defocus=3e4, acceleration_voltage=200.0, sampling_rate=3.0, spherical_aberration=2.7e7,
                        amplitude_contrast=0.1)  # fmt: skip
    axes = np.meshgrid(*[np.fft.fftfreq(n, 3.0) for n in shape], indexing="ij")
    ours = ctf(np.sqrt(sum(a * a for a in axes)), p)
    assert np.abs(ours - np.asarray(theirs)).max() < 2e-4


def test_the_template_equals_pytmes_preparation_on_pytmes_grid():
    """pytme's preprocess resamples with scipy's zoom (cubic spline), which keeps the first and last voxels of the
    padded box: its true spacing is (n_in - 1) / (n_out - 1) x the input's, not the pixel size asked for (here 1.6 %
    larger). On that grid, our spline sampling of the same input equals pytme's to float precision; on the nominal
    grid the two differ by that scale alone (and pytme's Gaussian low-pass where ours is the cosine-edged one)."""
    from tme import Density

    density = read_map(MAP)
    v = float(density.voxel_size[0])
    smooth = lowpass(density, 6 * v)  # both sides get the same band-limited input (pytme's --lowpass 0)
    n_in = 80
    cube = np.zeros((n_in,) * 3, np.float32)
    nz, ny, nx = smooth.data.shape
    cube[:nz, :ny, :nx] = smooth.data
    theirs = Density(cube.copy(), sampling_rate=(v, v, v)).resample(2 * v, method="spline", order=3).data
    n_out = theirs.shape[0]
    spacing = (n_in - 1) / (n_out - 1) * v
    assert n_out == 40 and abs(spacing / (2 * v) - 1) > 0.012
    ours = DensityMap(cube, smooth.origin, v).resampled_on(smooth.origin, (n_out,) * 3, spacing, order=3).data
    assert np.abs(ours - theirs).max() < 1e-5 * np.abs(theirs).max()
    nominal = DensityMap(cube, smooth.origin, v).resampled_on(smooth.origin, (n_out,) * 3, 2 * v, order=3).data
    assert np.abs(nominal - theirs).max() > 0.05 * np.abs(theirs).max()  # the grid difference is real


def test_projections_equal_the_sum_of_the_rotated_volume():
    """image(x, y) = sum_z V(M (x, y, z)) (RELION's angles; M = R_z(rot) R_y(tilt) R_z(psi)), the volume rotated by
    a scipy cubic spline and summed in real space, against torch-fourier-slice's central slices. The difference is
    torch-fourier-slice's: trilinear interpolation of the padded volume's transform with a sinc^2 correction, not
    exact even unrotated (the first angles); about 5 % rms of the image's sd at the padding used (4)."""
    density = read_map(MAP)
    template = make_template(density, 3.0, 45, resolution=9.0)
    angles = pd.DataFrame({"rlnAngleRot": [0.0, 40.0, 200.0], "rlnAngleTilt": [0.0, 75.0, 130.0],
                           "rlnAnglePsi": [0.0, -20.0, 95.0]})  # fmt: skip
    matrices = rotation_matrices(angles)
    images = project(template, matrices)
    c = 22
    axis = np.arange(45) - c
    y, x, z = np.meshgrid(axis, axis, axis, indexing="ij")
    points = np.stack([x, y, z], axis=-1)
    for image, m in zip(images, matrices):
        p = points @ m.T
        oracle = map_coordinates(template.data, [p[..., 2] + c, p[..., 1] + c, p[..., 0] + c], order=3).sum(-1)
        assert np.corrcoef(image.ravel(), oracle.ravel())[0, 1] > 0.998
        assert np.sqrt(np.mean((image - oracle) ** 2)) < 0.06 * oracle.std()


def test_projections_command_writes_the_stack_and_its_angles(tmp_path):
    stack = tmp_path / "refs.mrcs"
    assert main(["projections", str(MAP), "-o", str(stack), "--pixel-size", "3", "--box", "33", "--angles", "7"]) == 0
    with mrcfile.open(stack) as mrc:
        assert mrc.data.shape == (7, 33, 33) and mrc.is_image_stack()
        assert np.isclose(float(mrc.voxel_size.x), 3.0)
        first = mrc.data.copy()
    angles = read_angles(tmp_path / "refs.star")
    assert np.allclose(angles.to_numpy(), projection_angles(7).to_numpy(), atol=1e-5)
    table = tmp_path / "angles.csv"
    angles.rename(columns=dict(zip(angles.columns, ["rot", "tilt", "psi"]))).to_csv(table, index=False)
    again = tmp_path / "again.mrcs"
    args = ["projections", str(MAP), "-o", str(again), "--pixel-size", "3", "--box", "33", "--angle-file", str(table)]
    assert main(args) == 0
    with mrcfile.open(again) as mrc:
        assert np.allclose(mrc.data, first, atol=1e-5 * np.abs(first).max())


def test_bad_requests_are_one_line_errors(tmp_path, capsys):
    with pytest.raises(InputError, match="finer than the pixel size"):
        template_from_model(read_structure(MODEL), "molmap", 5.0, resolution=6.0)
    assert main(["projections", str(MAP), "-o", str(tmp_path / "x.mrc"), "--pixel-size", "3"]) == 2
    assert "projections are written as .mrcs" in capsys.readouterr().err
    bad = tmp_path / "bad.csv"
    bad.write_text("a,b\n1,2\n")
    assert main(["projections", str(MAP), "-o", str(tmp_path / "y.mrcs"), "--pixel-size", "3", "--angle-file",
                 str(bad)]) == 2  # fmt: skip
    assert "missing angle columns" in capsys.readouterr().err
