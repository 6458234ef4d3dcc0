"""How close a map is to an experimental map, or to a model: one module per family of scores.

- :mod:`.paper`: the paper's scores (section 3.5): ChimeraX correlations, SSIM and PCC after the original
  preprocessing, and their variants inside a mask around the model (:func:`evaluate` gives them all).
- :mod:`.phenix`: Phenix's CC_mask, CC_box, CC_volume, CC_peaks with mmtbx's model mask (:func:`map_model_cc`).
- :mod:`.fsc`: FSC, map-model FSC and the resolution where a curve crosses 0.5 / 0.143; the molmap resolution
  that best matches a map (:func:`matched_resolution`).
- :mod:`.qscore`: mapq's Q-score per atom, per residue and over the model.
- :mod:`.smoc`: TEMPy's SMOC per residue.
- :mod:`.model_fit`: all of them for one map and model (:func:`field_scores`, :func:`per_residue_scores`,
  :func:`model_fit_scores`), and a model carrying its per-residue scores (:func:`write_confidence`).

Example:
    >>> import numpy as np
    >>> round(pearson(np.arange(5.0), 2 * np.arange(5.0) + 1), 6)
    1.0
"""

from ..sim.maps import atom_mask, on_grid_of
from .fsc import FSCCurve, fsc_curve, fsc_resolution, map_model_fsc, matched_resolution
from .model_fit import (
    RESIDUE_SCORES,
    field_scores,
    model_fit_scores,
    per_residue_scores,
    resolution_for,
    scores_in_b_factors,
    write_confidence,
)
from .paper import SSIM_PERCENTILE, chimerax_correlation, contour_level, evaluate, pearson, preprocess, ssim
from .phenix import map_model_cc, phenix_mask
from .qscore import atom_qscores, mean_qscore, residue_qscores
from .smoc import residue_smoc

__all__ = [
    "FSCCurve",
    "RESIDUE_SCORES",
    "SSIM_PERCENTILE",
    "atom_mask",
    "atom_qscores",
    "chimerax_correlation",
    "contour_level",
    "evaluate",
    "field_scores",
    "fsc_curve",
    "fsc_resolution",
    "map_model_cc",
    "map_model_fsc",
    "matched_resolution",
    "model_fit_scores",
    "mean_qscore",
    "on_grid_of",
    "pearson",
    "per_residue_scores",
    "phenix_mask",
    "preprocess",
    "residue_qscores",
    "residue_smoc",
    "resolution_for",
    "scores_in_b_factors",
    "ssim",
    "write_confidence",
]
