"""How close a map is to an experimental map, or to a model: one module per family of scores.

- :mod:`.paper`: the paper's scores (section 3.5): ChimeraX correlations, SSIM and PCC after the original
  preprocessing, and their variants inside a mask around the model (:func:`evaluate` gives them all).

Example:
    >>> import numpy as np
    >>> round(pearson(np.arange(5.0), 2 * np.arange(5.0) + 1), 6)
    1.0
"""
from ..maps import atom_mask, on_grid_of
from .paper import (SSIM_PERCENTILE, chimerax_correlation, contour_level, evaluate, pearson, preprocess, ssim)

__all__ = ["SSIM_PERCENTILE", "atom_mask", "chimerax_correlation", "contour_level", "evaluate", "on_grid_of",
           "pearson", "preprocess", "ssim"]
