"""Templates from structures (the paper's future work, section 5): a map at a tomogram's pixel size and box, with the
CTF, low-pass and contrast that template-matching tools expect, its mask; and 2D projections for particle pickers.

A template is made from any density map (:func:`make_template`): the map low-passed to the template resolution R on
its own grid (:func:`s2mlib.sim.maps.lowpass`: nothing finer than R is left, so the resampling cannot alias; R >= 2 P,
the output's Nyquist limit), sampled by cubic splines onto an N^3 grid of pixel size P whose voxel (N/2, N/2, N/2)
lies on the template's centre, then multiplied in Fourier space by the CTF and, with ``invert``, by -1 (a raw
tomogram shows protein dark). From a model (:func:`template_from_model`), the map is the GAN's expected or sample map
or a simulator's, all made at R, and the centre is the mean of the atoms' positions, so that every method's template
of one model has the same centre, the point a template match reports.

**The CTF** (:func:`ctf`), as a function of the spatial frequency k (1/A), for defocus Df (positive underfocus),
spherical aberration Cs, electron wavelength lambda and amplitude contrast A (Rohou & Grigorieff 2015, CTFFIND4)::

    chi(k) = pi lambda Df k^2 - pi/2 Cs lambda^3 k^4,    CTF(k) = sin(chi(k) + arctan(A / sqrt(1 - A^2)) + phase shift)

computed by torch-ctf (``calculate_total_phase_shift``: relativistic lambda, 0.0197 A at 300 kV). The sign is
pytme's (``tme.filters.create_ctf``) and pytom-match-pick's: positive at low frequency for underfocus, so a template
keeps its map's contrast; ``invert`` then matches a raw tomogram's dark protein. A 3D template gets the CTF as a
function of |k| (the CTF of a tomogram reconstructed from untilted images, as pytme's ``CTFReconstructed``).

**Projections** (:func:`project`) are central slices of the template's Fourier transform (torch-fourier-slice,
``project_3d_to_2d``). Angles are RELION's (rot, tilt, psi): the image of a row is the projection along z of the
volume seen through the rotation M = R_z(rot) R_y(tilt) R_z(psi) (scipy's intrinsic 'ZYZ'),
``image(x, y) = sum_z V(M (x, y, z))`` (RELION's A is M transposed), with the volume's centre voxel N/2 as origin.

Example:
    >>> import numpy as np
    >>> round(float(electron_wavelength(300.0)), 5)
    0.01969
    >>> angles = projection_angles(4)
    >>> angles.columns.tolist(), len(angles)
    (['rlnAngleRot', 'rlnAngleTilt', 'rlnAnglePsi'], 4)
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from ..errors import InputError, OutputError, optional_import
from ..io.atoms import Structure
from ..io.density import DensityMap
from ..io.outputs import atomic_write
from ..sim.maps import lowpass

INSTALL = "pip install pytme==0.3.6 torch-fourier-slice==0.6.0 torch-ctf==0.6.0 starfile==0.5.13"
GAN, GAN_SAMPLE = "gan", "gan-sample"  # the template methods of the GAN's expected and sample maps
METHODS = (GAN, GAN_SAMPLE, "molmap", "e2pdb2mrc", "blurrer", "gemmi")
ANGLE_COLUMNS = ["rlnAngleRot", "rlnAngleTilt", "rlnAnglePsi"]


def _package(module: str, feature: str):
    return optional_import(module, feature, INSTALL)


@dataclass(frozen=True)
class CtfParams:
    """A microscope's CTF: defocus in micrometres (positive underfocus), voltage in kV, Cs in mm, the amplitude
    contrast fraction and an additional phase shift in degrees (a phase plate's)."""

    defocus_um: float
    voltage_kv: float = 300.0
    cs_mm: float = 2.7
    amplitude_contrast: float = 0.07
    phase_shift_deg: float = 0.0

    def __post_init__(self) -> None:
        for name in ("defocus_um", "voltage_kv", "cs_mm", "amplitude_contrast", "phase_shift_deg"):
            if not math.isfinite(getattr(self, name)):
                raise InputError(f"CTF {name} must be a finite number, got {getattr(self, name)!r}")
        if self.voltage_kv <= 0:
            raise InputError(f"CTF voltage must be positive (kV), got {self.voltage_kv:g}")
        if not 0 <= self.amplitude_contrast < 1:
            raise InputError(f"amplitude contrast must be a fraction in [0, 1), got {self.amplitude_contrast:g}")
        if self.cs_mm < 0:
            raise InputError(f"spherical aberration must not be negative (mm), got {self.cs_mm:g}")


def electron_wavelength(voltage_kv: float) -> float:
    """The relativistic electron wavelength in A at ``voltage_kv`` (torch-ctf's; Kirkland 2020)."""
    torch_ctf = _package("torch_ctf", "the CTF")
    return float(torch_ctf.calculate_relativistic_electron_wavelength(voltage_kv * 1e3)) * 1e10


def ctf(k: np.ndarray, params: CtfParams) -> np.ndarray:
    """The CTF at spatial frequencies ``k`` (1/A, any shape): sin(chi + amplitude-contrast phase + phase shift), the
    module's formula, computed by torch-ctf (whose ``calculate_ctf_*`` are the same, -sin of its total phase)."""
    import torch

    torch_ctf = _package("torch_ctf", "the CTF")
    k2 = torch.as_tensor(np.square(np.asarray(k, dtype=np.float64)))
    total = torch_ctf.calculate_total_phase_shift(
        defocus_um=torch.tensor(params.defocus_um, dtype=torch.float64),
        voltage_kv=torch.tensor(params.voltage_kv, dtype=torch.float64),
        spherical_aberration_mm=torch.tensor(params.cs_mm, dtype=torch.float64),
        phase_shift_degrees=torch.tensor(params.phase_shift_deg, dtype=torch.float64),
        amplitude_contrast_fraction=torch.tensor(params.amplitude_contrast, dtype=torch.float64),
        fftfreq_grid_angstrom_squared=k2,
    )
    return -np.sin(total.numpy())


def frequency(shape: tuple[int, ...], pixel_size: float) -> np.ndarray:
    """|k| (1/A) of every coefficient of ``numpy.fft.rfftn`` of an array of ``shape`` (2D or 3D) with square
    pixels of ``pixel_size`` A."""
    axes = [np.fft.fftfreq(n, pixel_size) for n in shape[:-1]] + [np.fft.rfftfreq(shape[-1], pixel_size)]
    return np.sqrt(sum(np.square(a) for a in np.meshgrid(*axes, indexing="ij", sparse=True)))


def apply_ctf(data: np.ndarray, pixel_size: float, params: CtfParams) -> np.ndarray:
    """``data`` (a 2D image or 3D map) with every Fourier coefficient multiplied by :func:`ctf` of its |k|."""
    spectrum = np.fft.rfftn(np.asarray(data, dtype=np.float64)) * ctf(frequency(data.shape, pixel_size), params)
    return np.fft.irfftn(spectrum, s=data.shape).astype(np.float32)


def _check_geometry(pixel_size: float, box: int | None, resolution: float | None) -> float:
    if not (math.isfinite(pixel_size) and pixel_size > 0):
        raise InputError(f"pixel size must be a positive number of Angstrom, got {pixel_size!r}")
    if box is not None and box < 8:
        raise InputError(f"box must be at least 8 pixels, got {box}")
    r = 2.0 * pixel_size if resolution is None else float(resolution)
    if not math.isfinite(r) or r < 2.0 * pixel_size - 1e-9:
        raise InputError(
            f"template resolution {r:g} A is finer than the pixel size {pixel_size:g} A can hold (Nyquist: "
            f"{2 * pixel_size:g} A)"
        )
    return r


def support_radius(density: DensityMap, centre, fraction: float = 0.05) -> float:
    """The distance (A) from ``centre`` to the farthest voxel above ``fraction`` of the map's maximum."""
    idx = np.argwhere(density.data > fraction * float(density.data.max()))[:, ::-1]  # x, y, z
    if len(idx) == 0:
        raise InputError("the map is empty (no positive density): no template can be made from it")
    return float(np.linalg.norm(density.index_to_world(idx) - np.asarray(centre, dtype=np.float64), axis=1).max())


def default_box(radius: float, pixel_size: float, resolution: float) -> int:
    """The smallest odd box (pixels) that holds a sphere of ``radius`` A with ``resolution`` A to spare on every side
    (the template's soft edge and the CTF's delocalisation need room): ceil((2 radius + 2 R) / P), made odd, so that
    the centre voxel box // 2 is also the rotation centre (box - 1) / 2 of pytme's matching (and pytme's
    preprocess makes odd boxes)."""
    n = math.ceil((2.0 * radius + 2.0 * resolution) / pixel_size)
    return max(9, n + 1 - n % 2)


def make_template(
    density: DensityMap,
    pixel_size: float,
    box: int | None = None,
    *,
    resolution: float | None = None,
    centre=None,
    ctf_params: CtfParams | None = None,
    invert: bool = False,
) -> DensityMap:
    """The template of ``density``: low-passed to ``resolution`` R A (default 2 P) on its own grid, sampled by cubic
    splines onto a ``box``^3 grid (default :func:`default_box` of the map's support) of ``pixel_size`` P A whose voxel
    box // 2 lies on ``centre`` (world x, y, z in A; default the middle of the map's box), then multiplied by the CTF
    of ``ctf_params`` and by -1 when ``invert``. The result's origin places it where the map lay."""
    r = _check_geometry(pixel_size, box, resolution)
    middle = density.index_to_world([(np.array(density.shape_xyz) - 1) / 2.0])[0]
    centre = middle if centre is None else np.asarray(centre, dtype=np.float64)
    if box is None:
        box = default_box(support_radius(density, centre), pixel_size, r)
    smooth = lowpass(density, r) if r > 2.0 * float(density.voxel_size.max()) else density
    origin = centre - (box // 2) * pixel_size
    template = smooth.resampled_on(origin, (box, box, box), pixel_size, order=3)
    if ctf_params is not None:
        template = template.copy(apply_ctf(template.data, pixel_size, ctf_params))
    if invert:
        template = template.copy(-template.data)
    return template


def model_centre(structure: Structure) -> np.ndarray:
    """The centre of a model's templates and of its particles in a synthetic tomogram: the mean atom position."""
    return np.asarray(structure.xyz, dtype=np.float64).mean(axis=0)


def source_maps(
    structure: Structure,
    methods,
    resolution: float,
    *,
    generator=None,
    seed: int = 0,
) -> dict[str, DensityMap]:
    """The maps templates of ``structure`` are made from, at ``resolution`` R A, by method: the GAN's expected map
    (``gan``; a :class:`~s2mlib.gan.generate.MapGenerator` with resolution-aware weights, default the shipped default on
    the CPU in float32, made at min(R, its trained 10 A) and low-passed to R by :func:`make_template`), its sample map
    (``gan-sample``: that expected map plus the calibrated noise of a map at that resolution,
    :func:`s2mlib.sim.noise.sample_maps`, with ``seed``; the expected map is made once for both), and the simulators'
    (:data:`s2mlib.sim.simulate.METHODS`) at R, all on one 1 A grid around the model (2 R to spare)."""
    from ..sim.simulate import METHODS as SIMULATORS
    from ..sim.simulate import bounding_grid, simulate

    unknown = [m for m in methods if m not in METHODS]
    if unknown:
        raise InputError(f"unknown template method {unknown[0]!r}; choose one of {', '.join(METHODS)}")
    maps: dict[str, DensityMap] = {}
    if GAN in methods or GAN_SAMPLE in methods:
        from ..sim.noise import model_weight, sample_maps
        from .generate import TRAINED_MAX_RESOLUTION, MapGenerator

        generator = generator if generator is not None else MapGenerator(device="cpu", precision="fp32", progress=False)
        if not generator.uses_resolution:
            raise InputError(
                f"{generator.weights}: templates are made at a chosen resolution, and these weights take none; use "
                f"resolution-aware weights such as --weights fast"
            )
        at = min(float(resolution), TRAINED_MAX_RESOLUTION)
        expected = generator(structure, resolution=at)
        if GAN in methods:
            maps[GAN] = expected
        if GAN_SAMPLE in methods:
            weight = model_weight(expected, structure, generator.b_factors)
            maps[GAN_SAMPLE] = sample_maps(expected, at, seed, weight=weight).full
    grid = bounding_grid(structure.xyz, 1.0, 2.0 * float(resolution))
    for method in methods:
        if method in SIMULATORS:
            maps[method] = simulate(structure, method, resolution, ref_map=grid)
    return {method: maps[method] for method in methods}


def template_from_model(
    structure: Structure,
    method: str,
    pixel_size: float,
    box: int | None = None,
    *,
    resolution: float | None = None,
    ctf_params: CtfParams | None = None,
    invert: bool = False,
    generator=None,
    seed: int = 0,
) -> DensityMap:
    """:func:`make_template` of :func:`source_maps` (``method`` at the template resolution R, default 2 P), centred
    on the model's mean atom position (:func:`model_centre`); the default box holds every atom with R to spare."""
    r = _check_geometry(pixel_size, box, resolution)
    centre = model_centre(structure)
    if box is None:
        box = default_box(float(np.linalg.norm(structure.xyz - centre, axis=1).max()), pixel_size, r)
    density = source_maps(structure, [method], r, generator=generator, seed=seed)[method]
    return make_template(density, pixel_size, box, resolution=r, centre=centre, ctf_params=ctf_params, invert=invert)


# ----------------------------------------------------------------------------------------------------- masks


def spherical_mask(box: int, radius: float, soft_edge: float = 2.0) -> np.ndarray:
    """A sphere of ``radius`` pixels about voxel box // 2 of a ``box``^3 grid, 1 inside, falling to 0 over a
    raised-cosine edge ``soft_edge`` pixels wide beyond it (float32, [z, y, x])."""
    if radius <= 0 or soft_edge < 0:
        raise InputError(f"mask radius must be positive and its edge not negative, got {radius:g}, {soft_edge:g}")
    axis = np.arange(box, dtype=np.float64) - box // 2
    d = np.sqrt(axis[:, None, None] ** 2 + axis[None, :, None] ** 2 + axis[None, None, :] ** 2)
    edge = np.clip((d - radius) / soft_edge, 0.0, 1.0) if soft_edge > 0 else (d > radius).astype(np.float64)
    return (0.5 * (1.0 + np.cos(np.pi * edge))).astype(np.float32)


def shape_mask(template: DensityMap, threshold: float = 0.1, dilate: float = 2.0, soft_edge: float = 2.0) -> np.ndarray:
    """A mask that follows the template's shape: the voxels where |template| exceeds ``threshold`` of its largest
    absolute value, grown by ``dilate`` pixels, with a raised-cosine edge ``soft_edge`` pixels wide (from the
    Euclidean distance to the grown shape)."""
    from scipy.ndimage import distance_transform_edt

    data = np.abs(template.data)
    core = data > threshold * float(data.max())
    if not core.any():
        raise InputError("the template is empty: no shape mask can be made from it")
    outside = distance_transform_edt(~core)
    edge = np.clip((outside - dilate) / soft_edge, 0.0, 1.0) if soft_edge > 0 else (outside > dilate).astype(float)
    return (0.5 * (1.0 + np.cos(np.pi * edge))).astype(np.float32)


# ----------------------------------------------------------------------------------------------- projections


def rotation_matrices(angles: pd.DataFrame) -> np.ndarray:
    """The (n, 3, 3) matrices M = R_z(rot) R_y(tilt) R_z(psi) of RELION angle columns (degrees; see the module)."""
    from scipy.spatial.transform import Rotation

    return Rotation.from_euler("ZYZ", angles[ANGLE_COLUMNS].to_numpy(dtype=np.float64), degrees=True).as_matrix()


def projection_angles(n: int) -> pd.DataFrame:
    """``n`` projection directions spread evenly over the sphere (the golden-angle spiral: tilt from
    arccos(1 - 2 (i + 0.5) / n), rot = i x 137.5 degrees), psi 0 (a picker rotates in plane itself)."""
    if n < 1:
        raise InputError(f"the number of projections must be at least 1, got {n}")
    i = np.arange(n, dtype=np.float64)
    tilt = np.degrees(np.arccos(1.0 - 2.0 * (i + 0.5) / n))
    rot = np.mod(i * (180.0 * (3.0 - math.sqrt(5.0))), 360.0)
    return pd.DataFrame({"rlnAngleRot": rot, "rlnAngleTilt": tilt, "rlnAnglePsi": np.zeros(n)})


def project(template: DensityMap, matrices: np.ndarray) -> np.ndarray:
    """Projections (n, N, N) of a cubic N^3 template seen through each matrix (see the module), as central slices of
    its Fourier transform (torch-fourier-slice: the volume padded to 4 N, divided by sinc^2 for the trilinear
    interpolation of its transform). Each approximates the sum along z, in the template's units times pixels: on a
    small real particle the rms difference from the exact real-space sum is about 5 % of the image's sd at this
    padding (11 % at torch-fourier-slice's default of 2; tests/test_templates.py)."""
    import torch

    tfs = _package("torch_fourier_slice", "projections")
    if len(set(template.data.shape)) != 1:
        raise InputError(f"projections need a cubic template, got {template.shape_xyz}")
    volume = torch.from_numpy(np.ascontiguousarray(template.data, dtype=np.float32))
    rotations = torch.as_tensor(np.asarray(matrices, dtype=np.float32)).reshape(-1, 3, 3)
    with torch.inference_mode():
        images = tfs.project_3d_to_2d(volume, rotations, pad_factor=4.0)
    return images.numpy().astype(np.float32)


def read_angles(path: str | os.PathLike) -> pd.DataFrame:
    """Projection angles from a STAR file (RELION's rlnAngleRot, rlnAngleTilt, rlnAnglePsi, read by starfile) or a
    CSV/TSV file (those columns, or rot, tilt, psi), in degrees."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: angle file not found")
    if path.suffix.lower() == ".star":
        starfile = _package("starfile", "a STAR angle file")
        try:
            data = starfile.read(path, always_dict=True)
        except Exception as exc:  # the parser's own errors have no common class
            raise InputError(f"{path}: not a readable STAR file ({exc})") from None
        tables = [t for t in data.values() if isinstance(t, pd.DataFrame) and set(ANGLE_COLUMNS) <= set(t.columns)]
        if not tables:
            raise InputError(f"{path}: no data block holds the columns {', '.join(ANGLE_COLUMNS)}")
        table = tables[0]
    else:
        try:
            table = pd.read_csv(path, sep=None, engine="python")
        except (ValueError, pd.errors.ParserError) as exc:
            raise InputError(f"{path}: not a readable CSV/TSV angle table ({exc})") from None
        table = table.rename(columns=dict(zip(["rot", "tilt", "psi"], ANGLE_COLUMNS)))
    missing = [c for c in ANGLE_COLUMNS if c not in table.columns]
    if missing:
        raise InputError(f"{path}: missing angle columns {', '.join(missing)} (or rot, tilt, psi in a CSV)")
    angles = table[ANGLE_COLUMNS].apply(pd.to_numeric, errors="coerce")
    if len(angles) == 0 or not np.isfinite(angles.to_numpy()).all():
        raise InputError(f"{path}: the angle columns must hold numbers (degrees), and at least one row")
    return angles.reset_index(drop=True).astype(np.float64)


def angles_path(stack: str | os.PathLike) -> Path:
    """The STAR file written beside a projection stack: STACK.mrcs -> STACK.star."""
    stack = Path(stack)
    return stack.with_name(stack.name.removesuffix(".gz").rsplit(".", 1)[0] + ".star")


def write_stack(images: np.ndarray, pixel_size: float, angles: pd.DataFrame, path: str | os.PathLike) -> Path:
    """Write projections as an MRC image stack (``.mrcs``, mode 2, the pixel size in the header) and their angles
    beside it (:func:`angles_path`, a STAR file with rlnImageName ``i@STACK.mrcs``, as RELION names particles);
    both atomically. Returns the STAR file's path."""
    import mrcfile

    starfile = _package("starfile", "writing the angle file")
    path = Path(path)
    if len(images) != len(angles):
        raise OutputError(f"{path}: {len(images)} images but {len(angles)} angle rows")

    def write_images(tmp: Path) -> None:
        with mrcfile.new(tmp, overwrite=True) as mrc:
            mrc.set_data(np.ascontiguousarray(images, dtype=np.float32))
            mrc.set_image_stack()
            mrc.voxel_size = (pixel_size, pixel_size, pixel_size)
            mrc.update_header_stats()

    table = angles[ANGLE_COLUMNS].copy()
    table.insert(0, "rlnImageName", [f"{i:06d}@{path.name}" for i in range(1, len(angles) + 1)])
    star = angles_path(path)
    atomic_write(write_images, path)
    atomic_write(lambda tmp: starfile.write({"particles": table}, tmp, overwrite=True), star)
    return star
