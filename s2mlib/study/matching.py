"""How well templates find particles: synthetic tomograms and micrographs built from an experimental map, template
matching, and detection scores (notebook 09).

**Synthetic data** (:func:`synthetic_tomogram`, :func:`synthetic_micrograph`). Copies of an experimental map (its
particles are real densities, not a simulator's) are placed at known positions, at least a particle diameter apart,
and orientations (uniform on SO(3)): each copy is the map low-passed to the data's Nyquist limit (2 P) and sampled by
cubic splines at the rotated positions, ``copy(x) = map(c + R^T (x - t))`` for centre c (the model's mean atom
position, as its templates'), rotation R and position t. The sum is multiplied by the CTF of |k| and by -1 (protein
dark, as in raw data); white Gaussian noise is added at the stated SNR, the variance of that signal over the voxels
within a particle radius of a centre over the noise variance; a tomogram is then restricted to the Fourier
coefficients a +/- ``tilt`` degree tilt series samples (pytme's continuous missing wedge, beam along the array's first
axis, tilt axis its last), noise included, as a reconstruction from the tilts would be.

**Matching.** 3D: pytme's exhaustive search (``match_exhaustive``, score ``FLCSphericalMask``: the fast local
correlation of Roseman 2003 under a spherical mask; the template rotated by each matrix of a set and passed through
the same missing wedge; ``MaxScoreOverRotations``). 2D (:func:`match_images`): every reference projection
correlated with the micrograph by the same fast local correlation, computed here with FFTs in batches (checked against
pytme's on one reference, ``tests/test_matching.py``), the best reference per pixel kept.

**Scores** (:func:`detection_scores`) on the map of the best score per voxel, within the region where a particle's
centre can lie (``margin`` from the edges): the **z-score** of each true particle, the highest score within one voxel
of its centre against the mean and sd of the voxels farther than a particle radius from every centre; **picks**, the
local maxima at least a particle radius apart above the false-alarm cut-off, mean + z* sd of that background with z*
the level a Gaussian exceeds once among the searched voxels (z* = sqrt(2) erfcinv(2 / n), the rule of pytom-match-pick's
extraction threshold on one score map); a pick within ``tolerance`` voxels of a not yet found centre is a hit
(in order of score), so **precision** = hits / picks and **recall** = hits / particles; **average precision** over
the 3 K highest local maxima (K particles), the area under that ranking's precision-recall curve; and the **angular
error**, the angle between a particle's rotation and the rotation of the best score at its centre (median over the
particles; at the nearest voxel within one of the centre).

Example:
    >>> import numpy as np
    >>> round(false_alarm_level(64000), 2)
    4.16
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass

import numpy as np
import pandas as pd

from ..errors import InputError, optional_import
from ..gan.templates import INSTALL, CtfParams, apply_ctf, project
from ..io.density import DensityMap
from ..sim.maps import lowpass


@dataclass
class Synthetic:
    """A synthetic tomogram or micrograph (``data``, [z, y, x] or [y, x]) with its truth: ``positions`` (n, ndim)
    array indices of the particle centres and ``rotations`` (n, 3, 3) in x, y, z (see the module); ``radius`` the
    particle radius in pixels."""

    data: np.ndarray
    positions: np.ndarray
    rotations: np.ndarray
    radius: float


def random_rotations(n: int, rng: np.random.Generator) -> np.ndarray:
    """``n`` rotations uniform on SO(3) (normalised Gaussian quaternions), as (n, 3, 3) matrices."""
    from scipy.spatial.transform import Rotation

    return Rotation.from_quat(rng.normal(size=(n, 4))).as_matrix()


def place(shape, n: int, distance: float, margin: int, rng: np.random.Generator, tries: int = 10000) -> np.ndarray:
    """``n`` integer positions in ``shape`` at least ``margin`` from every edge and ``distance`` from each other
    (random sequential placement); raises :class:`InputError` when they do not fit."""
    low, high = margin, np.asarray(shape) - margin
    if np.any(high <= low):
        raise InputError(f"a volume of {tuple(shape)} leaves no room inside a margin of {margin}")
    found: list[np.ndarray] = []
    for _ in range(tries):
        p = rng.integers(low, high)
        if all(np.linalg.norm(p - q) >= distance for q in found):
            found.append(p)
            if len(found) == n:
                return np.array(found)
    raise InputError(f"{n} particles {distance:.1f} pixels apart do not fit in {tuple(shape)} (margin {margin})")


def rotated_copy(smooth: DensityMap, centre, rotation: np.ndarray, pixel_size: float, box: int) -> np.ndarray:
    """The map rotated by ``rotation`` (x, y, z) about ``centre`` on a ``box``^3 grid of ``pixel_size`` whose voxel
    box // 2 is the centre: ``copy(d) = map(centre + R^T d)``, cubic splines (``smooth`` is low-passed first)."""
    from scipy.ndimage import map_coordinates

    axis = (np.arange(box) - box // 2) * pixel_size
    z, y, x = np.meshgrid(axis, axis, axis, indexing="ij")
    offsets = np.stack([x, y, z], axis=-1).reshape(-1, 3)  # d, x y z
    world = np.asarray(centre, dtype=np.float64) + offsets @ rotation  # (R^T d)^T = d^T R
    idx = smooth.world_to_index(world)[:, ::-1].T
    values = map_coordinates(smooth.data, idx, order=3, mode="constant", cval=0.0, prefilter=True)
    return values.reshape(box, box, box).astype(np.float32)


def _support(shape, positions: np.ndarray, radius: float) -> np.ndarray:
    """True at the pixels within ``radius`` of any position."""
    grids = np.meshgrid(*[np.arange(n) for n in shape], indexing="ij")
    near = np.zeros(shape, bool)
    for p in positions:
        near |= sum((g - c) ** 2 for g, c in zip(grids, p)) <= radius**2
    return near


def _noisy(signal: np.ndarray, support: np.ndarray, snr: float, rng: np.random.Generator) -> np.ndarray:
    if not (math.isfinite(snr) and snr > 0):
        raise InputError(f"SNR must be a positive number, got {snr!r}")
    sigma = math.sqrt(float(signal[support].var()) / snr)
    return signal + rng.normal(0.0, sigma, signal.shape).astype(np.float32)


def wedge_filter(shape, tilt: float) -> np.ndarray:
    """pytme's continuous missing wedge of a +/- ``tilt`` degree tilt series in ``numpy.fft.rfftn`` layout (beam
    along axis 0, tilt axis 2; 1 where sampled, 0 in the wedge and beyond the Nyquist sphere)."""
    filters = optional_import("tme.filters", "the missing wedge", INSTALL)
    wedge = filters.WedgeReconstructed(angles=(tilt, tilt), create_continuous_wedge=True, opening_axis=0, tilt_axis=2)
    return np.asarray(wedge(shape=tuple(shape), return_real_fourier=True)["data"], dtype=np.float32)


def _ctf_dark(signal: np.ndarray, pixel_size: float, params: CtfParams | None) -> np.ndarray:
    """-(CTF applied to ``signal``): the CTF of |k| (none without ``params``), and protein dark."""
    return -signal if params is None else -apply_ctf(signal, pixel_size, params)


def synthetic_tomogram(
    density: DensityMap,
    centre,
    pixel_size: float,
    shape: tuple[int, int, int],
    n_particles: int,
    snr: float,
    *,
    radius: float,
    ctf_params: CtfParams | None = None,
    tilt: float = 60.0,
    seed: int = 0,
) -> Synthetic:
    """A tomogram of ``shape`` voxels of ``pixel_size`` A holding ``n_particles`` copies of ``density`` (particle
    radius ``radius`` A), with CTF, noise at ``snr`` and a +/- ``tilt`` degree missing wedge (see the module)."""
    rng = np.random.default_rng(seed)
    r_px = radius / pixel_size
    box = 2 * math.ceil(r_px) + 4
    positions = place(shape, n_particles, 2 * r_px, box // 2 + 1, rng)
    rotations = random_rotations(n_particles, rng)
    smooth = lowpass(density, 2.0 * pixel_size)
    volume = np.zeros(shape, np.float32)
    for p, rotation in zip(positions, rotations):
        lo = p - box // 2
        volume[lo[0] : lo[0] + box, lo[1] : lo[1] + box, lo[2] : lo[2] + box] += rotated_copy(
            smooth, centre, rotation, pixel_size, box
        )
    signal = _ctf_dark(volume.astype(np.float64), pixel_size, ctf_params)
    noisy = _noisy(signal.astype(np.float32), _support(shape, positions, r_px), snr, rng)
    data = np.fft.irfftn(np.fft.rfftn(noisy) * wedge_filter(shape, tilt), s=shape).astype(np.float32)
    return Synthetic(data, positions, rotations, r_px)


def synthetic_micrograph(
    template: DensityMap,
    shape: tuple[int, int],
    n_particles: int,
    snr: float,
    *,
    radius: float,
    ctf_params: CtfParams | None = None,
    seed: int = 0,
) -> Synthetic:
    """A micrograph of ``shape`` pixels holding ``n_particles`` projections of ``template`` (the experimental map on
    the micrograph's pixel grid, no CTF: :func:`s2mlib.gan.templates.make_template`), each at a random orientation (its
    rotation M: the projection of the map seen through M, :func:`s2mlib.gan.templates.project`), with the CTF of |k|,
    protein dark and noise at ``snr`` (see the module); ``radius`` in A."""
    rng = np.random.default_rng(seed)
    pixel_size = float(template.voxel_size[0])
    r_px = radius / pixel_size
    box = template.data.shape[0]
    positions = place(shape, n_particles, 2 * r_px, box // 2 + 1, rng)
    rotations = random_rotations(n_particles, rng)
    images = project(template, rotations)
    image = np.zeros(shape, np.float32)
    for p, projection in zip(positions, images):
        lo = p - box // 2
        image[lo[0] : lo[0] + box, lo[1] : lo[1] + box] += projection
    signal = _ctf_dark(image.astype(np.float64), pixel_size, ctf_params)
    return Synthetic(
        _noisy(signal.astype(np.float32), _support(shape, positions, r_px), snr, rng), positions, rotations, r_px
    )


# ------------------------------------------------------------------------------------------------ matching


@dataclass
class Matches:
    """The best score per pixel (``scores``), the index of its rotation or reference (``index``) and those
    rotations, (n, 3, 3) in x, y, z (``rotations``)."""

    scores: np.ndarray
    index: np.ndarray
    rotations: np.ndarray


def rotation_set(angular_sampling: float) -> np.ndarray:
    """pytme's rotation set for ``angular_sampling`` degrees (``get_rotation_matrices``, its optimised sets), as
    (n, 3, 3) matrices in x, y, z."""
    rotations = optional_import("tme.rotations", "template matching", INSTALL)
    return np.asarray(
        rotations.get_rotation_matrices(angular_sampling=angular_sampling, dim=3, use_optimized_set=True), np.float64
    )


_FLIP = np.eye(3)[::-1]  # x, y, z <-> the arrays' z, y, x


def match_volume(
    tomogram: np.ndarray,
    template: np.ndarray,
    mask: np.ndarray,
    rotations: np.ndarray,
    *,
    tilt: float | None = 60.0,
) -> Matches:
    """pytme's exhaustive template matching of ``template`` (its [z, y, x] array, box // 2 its centre) with its
    spherical ``mask`` in ``tomogram`` over ``rotations`` (x, y, z), each rotated template passed through the
    +/- ``tilt`` missing wedge (none when None); score FLCSphericalMask, the best over rotations kept."""
    tme_data = optional_import("tme.matching_data", "template matching", INSTALL)
    exhaustive = optional_import("tme.matching_exhaustive", "template matching", INSTALL)
    analyzer = optional_import("tme.analyzer", "template matching", INSTALL)
    filters = optional_import("tme.filters", "template matching", INSTALL)
    data = tme_data.MatchingData(np.ascontiguousarray(tomogram, np.float32), np.ascontiguousarray(template, np.float32))
    data.template_mask = np.ascontiguousarray(mask, np.float32)
    # pytme rotates arrays in their own index order (z, y, x here) and reports R with template(R^T u) (tested)
    data.rotations = np.ascontiguousarray(_FLIP @ np.transpose(rotations, (0, 2, 1)) @ _FLIP, np.float32)
    if tilt is not None:
        data.template_filter = filters.Compose(
            [filters.WedgeReconstructed(angles=(tilt, tilt), create_continuous_wedge=True, opening_axis=0, tilt_axis=2)]
        )
    setup, score = exhaustive.MATCHING_EXHAUSTIVE_REGISTER["FLCSphericalMask"]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = exhaustive.match_exhaustive(
            matching_data=data,
            matching_score=score,
            matching_setup=setup,
            callback_class=analyzer.MaxScoreOverRotations,
            callback_class_args={},
            job_schedule=(1, 1),
        )
    scores, _, index, mapping = result[:4]
    found = {int(k): np.asarray(v, np.float64) for k, v in mapping.items()}
    order = np.array([(_FLIP @ found[i] @ _FLIP).T for i in range(len(found))])
    return Matches(np.asarray(scores, np.float32), np.asarray(index, np.int64), order)


def flc_2d(
    image: np.ndarray, references: np.ndarray, mask: np.ndarray, batch: int = 64
) -> tuple[np.ndarray, np.ndarray]:
    """The fast local correlation (Roseman 2003) of each reference (n, b, b; centre b // 2) with ``image`` under
    ``mask`` (b, b), by FFTs: at pixel u, sum_m M(m) (I(u + m) - mu(u)) T'(m) / (sigma(u) |M T'|), T' the reference
    minus its mean under the mask, mu and sigma the image's mean and sd under the mask placed at u. Returns the best
    score per pixel and the index of its reference."""
    import torch

    h, w = image.shape
    b = references.shape[-1]
    c = b // 2
    img = torch.as_tensor(image, dtype=torch.float64)
    m = torch.zeros(h, w, dtype=torch.float64)
    m[:b, :b] = torch.as_tensor(mask, dtype=torch.float64)
    m = torch.roll(m, shifts=(-c, -c), dims=(0, 1))  # the mask's centre at the origin: score at u = centre at u
    fm = torch.fft.rfft2(m)
    area = float(mask.sum())
    mean = torch.fft.irfft2(torch.fft.rfft2(img) * fm.conj(), s=(h, w)) / area
    mean2 = torch.fft.irfft2(torch.fft.rfft2(img * img) * fm.conj(), s=(h, w)) / area
    sigma = torch.sqrt(torch.clamp(mean2 - mean * mean, min=1e-12))
    fi = torch.fft.rfft2(img)
    best = torch.full((h, w), -torch.inf, dtype=torch.float64)
    index = torch.zeros((h, w), dtype=torch.int64)
    mask_t = torch.as_tensor(mask, dtype=torch.float64)
    for start in range(0, len(references), batch):
        refs = torch.as_tensor(references[start : start + batch], dtype=torch.float64)
        weighted = refs * mask_t
        centred = (refs - weighted.sum((-2, -1), keepdim=True) / area) * mask_t
        centred = centred / torch.linalg.vector_norm(centred, dim=(-2, -1), keepdim=True).clamp_min(1e-12)
        padded = torch.zeros(len(refs), h, w, dtype=torch.float64)
        padded[:, :b, :b] = centred
        padded = torch.roll(padded, shifts=(-c, -c), dims=(1, 2))
        score = torch.fft.irfft2(fi * torch.fft.rfft2(padded).conj(), s=(h, w)) / (sigma * math.sqrt(area))
        top, arg = score.max(dim=0)
        better = top > best
        best = torch.where(better, top, best)
        index = torch.where(better, arg + start, index)
    return best.numpy().astype(np.float32), index.numpy()


def match_images(image: np.ndarray, template: DensityMap, mask: np.ndarray, rotations: np.ndarray) -> Matches:
    """:func:`flc_2d` of ``image`` with the projections of ``template`` at each of ``rotations`` (x, y, z)."""
    references = project(template, rotations)
    scores, index = flc_2d(image, references, mask)
    return Matches(scores, index, np.asarray(rotations, np.float64))


# -------------------------------------------------------------------------------------------------- scores


def false_alarm_level(n: int) -> float:
    """z* = sqrt(2) erfcinv(2 / n): the level a standard Gaussian exceeds once, on average, in ``n`` draws."""
    from scipy.special import erfcinv

    return float(math.sqrt(2.0) * erfcinv(2.0 / n))


def rotation_angle(a: np.ndarray, b: np.ndarray) -> float:
    """The angle (degrees) of the rotation taking ``a`` to ``b``: arccos((trace(a^T b) - 1) / 2)."""
    cos = (np.trace(np.asarray(a).T @ np.asarray(b)) - 1.0) / 2.0
    return float(np.degrees(np.arccos(np.clip(cos, -1.0, 1.0))))


def _local_maxima(scores: np.ndarray, distance: float, region: tuple[slice, ...]) -> np.ndarray:
    """Local maxima of ``scores`` at least ``distance`` apart inside ``region``, highest first (positions)."""
    from skimage.feature import peak_local_max

    inner = np.full(scores.shape, -np.inf, np.float32)
    inner[region] = scores[region]
    return peak_local_max(inner, min_distance=max(1, int(distance)), exclude_border=False, threshold_abs=-np.inf)


def detection_scores(
    matches: Matches, truth: Synthetic, margin: int, tolerance: float | None = None
) -> dict[str, float]:
    """The detection scores of ``matches`` against ``truth`` (see the module): mean and min z-score of the true
    particles, the false-alarm cut-off z*, picks, precision, recall, average precision and the median angular error
    (degrees); ``margin``: the pixels at each edge where no centre lies; ``tolerance``: pixels (default
    max(2, radius / 2))."""
    scores = matches.scores
    region = tuple(slice(margin, n - margin) for n in scores.shape)
    tol = tolerance if tolerance is not None else max(2.0, truth.radius / 2.0)
    inside = np.zeros(scores.shape, bool)
    inside[region] = True
    background = inside & ~_support(scores.shape, truth.positions, truth.radius)
    mu, sd = float(scores[background].mean()), float(scores[background].std())
    z_true, errors = [], []
    for p, rotation in zip(truth.positions, truth.rotations):
        near = tuple(slice(max(0, c - 1), c + 2) for c in p)
        window = scores[near]
        best = np.unravel_index(int(np.argmax(window)), window.shape)
        at = tuple(s.start + i for s, i in zip(near, best))
        z_true.append((float(window.max()) - mu) / sd)
        errors.append(rotation_angle(rotation, matches.rotations[int(matches.index[at])]))
    z_star = false_alarm_level(int(inside.sum()))
    maxima = _local_maxima(scores, truth.radius, region)
    ranked = maxima[: 3 * len(truth.positions)]
    hits = _hits(ranked, truth.positions, tol)
    picked = (scores[tuple(ranked.T)] - mu) / sd > z_star if len(ranked) else np.zeros(0, bool)
    n_true = len(truth.positions)
    precision_curve = np.cumsum(hits) / np.arange(1, len(hits) + 1) if len(hits) else np.zeros(0)
    average_precision = float((precision_curve * hits).sum() / n_true)
    n_picks = int(picked.sum())
    true_picks = int((hits & picked).sum())
    return {
        "z_mean": float(np.mean(z_true)),
        "z_min": float(np.min(z_true)),
        "z_cutoff": z_star,
        "picks": n_picks,
        "precision": true_picks / n_picks if n_picks else float("nan"),
        "recall": true_picks / n_true,
        "average_precision": average_precision,
        "angular_error": float(np.median(errors)),
    }


def _hits(peaks: np.ndarray, centres: np.ndarray, tolerance: float) -> np.ndarray:
    """For peaks in rank order: True where the peak lies within ``tolerance`` of a centre not yet found."""
    free = np.ones(len(centres), bool)
    out = np.zeros(len(peaks), bool)
    for i, peak in enumerate(peaks):
        d = np.linalg.norm(centres - peak, axis=1)
        d[~free] = np.inf
        j = int(np.argmin(d)) if len(d) else -1
        if j >= 0 and d[j] <= tolerance:
            free[j] = False
            out[i] = True
    return out


# ---------------------------------------------------------------------------------------------------- study

EXPERIMENTAL = "experimental"  # the ceiling: templates from the experimental map the particles are made of
SCORE_COLUMNS = ["z_mean", "z_min", "z_cutoff", "picks", "precision", "recall", "average_precision", "angular_error"]


@dataclass(frozen=True)
class StudySettings:
    """The synthetic data and the search of :func:`detection_study`: pixel size (A), the tomograms' and the
    micrographs' SNRs (a projection sums a particle's signal along the beam, so one micrograph pixel holds more of it
    than one voxel: the same detection needs a higher SNR per pixel), pytme's angular sampling
    (degrees; the 2D references use the same rotations), particles per tomogram or micrograph, tomogram and
    micrograph edge (pixels), the CTF's defocus (um; 300 kV, Cs 2.7 mm, amplitude contrast 0.07), the missing
    wedge's tilt range (+/- degrees) and the seed of the particles, rotations and noise."""

    pixel_size: float = 5.0
    snrs: tuple[float, ...] = (0.1, 0.03, 0.01)
    micrograph_snrs: tuple[float, ...] = (1.0, 0.3, 0.1)
    angular_sampling: float = 45.0
    particles: int = 8
    tomogram_size: int = 64
    micrograph_size: int = 160
    defocus: float = 3.0
    tilt: float = 60.0
    seed: int = 0


def entry_templates(
    structure, exp_map: DensityMap, methods: dict[str, str], settings: StudySettings, generator=None
) -> tuple[dict[str, DensityMap], DensityMap, np.ndarray, float]:
    """The templates of one entry at the study's pixel size, resolution R = 2 P, CTF and inverted contrast: one per
    ``methods`` (label -> :data:`s2mlib.gan.templates.METHODS`) from the model, and :data:`EXPERIMENTAL` from
    ``exp_map``; with the experimental map's template without CTF (the micrographs' particles), the centre and the
    particle radius (A, the farthest atom from the centre)."""
    from ..gan.templates import default_box, make_template, model_centre, source_maps

    centre = model_centre(structure)
    radius = float(np.linalg.norm(structure.xyz - centre, axis=1).max())
    p = settings.pixel_size
    r = 2.0 * p
    box = default_box(radius, p, r)
    ctf_params = CtfParams(settings.defocus)
    sources = source_maps(structure, list(methods.values()), r, generator=generator, seed=settings.seed)
    sources_by_label = {label: sources[method] for label, method in methods.items()}
    sources_by_label[EXPERIMENTAL] = exp_map
    made = {
        label: make_template(density, p, box, resolution=r, centre=centre, ctf_params=ctf_params, invert=True)
        for label, density in sources_by_label.items()
    }
    plain = make_template(exp_map, p, box, resolution=r, centre=centre)
    return made, plain, centre, radius


def detection_study(
    entries: pd.DataFrame,
    methods: dict[str, str],
    settings: StudySettings,
    generator=None,
    progress: bool = True,
) -> tuple[pd.DataFrame, pd.DataFrame, dict]:
    """Notebook 09: for every entry (columns entry, split, model, exp_map) and SNR, a synthetic tomogram and
    micrograph of its experimental map, searched with every template of :func:`entry_templates`. Returns the 3D
    and 2D tables (entry, split, snr, template, :data:`SCORE_COLUMNS`, seconds) and, for the figures, the first
    entry's name, templates, tomogram and micrograph at the first SNRs."""
    import time

    from ..gan.templates import spherical_mask
    from ..io.atoms import read_structure
    from ..io.density import read_map
    from ..io.progress import tqdm

    rotations = rotation_set(settings.angular_sampling)
    ctf_params = CtfParams(settings.defocus)
    rows_3d: list[dict] = []
    rows_2d: list[dict] = []
    shown: dict = {}
    for row in tqdm(list(entries.itertuples()), desc="entries", disable=not progress):
        structure, exp_map = read_structure(row.model), read_map(row.exp_map)
        made, plain, centre, radius = entry_templates(structure, exp_map, methods, settings, generator)
        box = next(iter(made.values())).data.shape[0]
        mask = spherical_mask(box, radius / settings.pixel_size + 1.0)
        margin = box // 2 + 1
        for j, snr in enumerate(settings.snrs):
            size = settings.tomogram_size
            tomogram = synthetic_tomogram(
                exp_map, centre, settings.pixel_size, (size,) * 3, settings.particles, snr, radius=radius,
                ctf_params=ctf_params, tilt=settings.tilt, seed=settings.seed + j,
            )  # fmt: skip
            shown.setdefault("tomogram", tomogram)
            for label, template in made.items():
                start = time.perf_counter()
                found = match_volume(tomogram.data, template.data, mask, rotations, tilt=settings.tilt)
                record = {"entry": row.entry, "split": row.split, "snr": snr, "template": label}
                scores = detection_scores(found, tomogram, margin)
                rows_3d.append({**record, **scores, "seconds": time.perf_counter() - start})
        for j, snr in enumerate(settings.micrograph_snrs):
            size = settings.micrograph_size
            micrograph = synthetic_micrograph(
                plain, (size, size), settings.particles, snr, radius=radius, ctf_params=ctf_params,
                seed=settings.seed + j,
            )  # fmt: skip
            shown.setdefault("micrograph", micrograph)
            for label, template in made.items():
                start = time.perf_counter()
                found = match_images(micrograph.data, template, mask[box // 2], rotations)
                record = {"entry": row.entry, "split": row.split, "snr": snr, "template": label}
                scores = detection_scores(found, micrograph, margin)
                rows_2d.append({**record, **scores, "seconds": time.perf_counter() - start})
        shown.setdefault("entry", row.entry)
        shown.setdefault("templates", made)
    return pd.DataFrame(rows_3d), pd.DataFrame(rows_2d), shown


def summary(table: pd.DataFrame, order: list[str]) -> pd.DataFrame:
    """Mean detection scores per template and SNR over the entries (the templates in ``order``), SNRs from the
    highest."""
    means = table.groupby(["snr", "template"])[SCORE_COLUMNS].mean().reset_index()
    means["template"] = pd.Categorical(means["template"], order, ordered=True)
    return means.sort_values(["snr", "template"], ascending=[False, True]).reset_index(drop=True)


def verdict(
    table: pd.DataFrame, gan: str, simulators: list[str], metrics=("z_mean", "average_precision")
) -> pd.DataFrame:
    """Per SNR and metric of a :func:`summary` table: the GAN template's score, the best simulator's, the spread
    between the simulators (a lead smaller than it is no win), the experimental ceiling's, and whether the GAN is
    ahead of every simulator."""
    rows = []
    for snr, group in table.groupby("snr", observed=True):
        scores = group.set_index("template")
        sims = scores.loc[simulators]
        for metric in metrics:
            rows.append(
                {
                    "snr": snr,
                    "metric": metric,
                    "GAN": float(scores.loc[gan, metric]),
                    "best simulator": float(sims[metric].max()),
                    "simulator spread": float(sims[metric].max() - sims[metric].min()),
                    "experimental": float(scores.loc[EXPERIMENTAL, metric]),
                    "GAN ahead": bool(scores.loc[gan, metric] > sims[metric].max()),
                }
            )
    return pd.DataFrame(rows).sort_values(["metric", "snr"], ascending=[True, False]).reset_index(drop=True)
