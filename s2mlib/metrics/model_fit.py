"""The field's model-fit scores of one map and one model, in one call each (for ``s2m evaluate`` and notebook tables).

- :func:`field_scores`: Phenix's CC_mask, CC_box, CC_volume, CC_peaks against the model's molmap at the given
  resolution (:mod:`.phenix`), the map-model FSC = 0.5 resolution against a Nyquist molmap (:mod:`.fsc`, TEMPy's
  rule) and the mean Q-score (:mod:`.qscore`).
- :func:`per_residue_scores`: Q-score (mapq) and SMOC (TEMPy) of every residue.

Example:
    >>> from s2mlib.atoms import read_structure
    >>> from s2mlib.io import read_map
    >>> scores = field_scores(read_map("emd.map"), read_structure("model.pdb"), 3.4)   # doctest: +SKIP
    >>> sorted(scores)                                                                  # doctest: +SKIP
    ['cc_box', 'cc_mask', 'cc_peaks', 'cc_volume', 'fsc_0.5_resolution', 'mask_voxels', 'q_mean']
"""

from __future__ import annotations

import pandas as pd

from ..atoms import Structure
from ..io import DensityMap
from .fsc import fsc_resolution, map_model_fsc
from .phenix import map_model_cc
from .qscore import atom_qscores, mean_qscore, residue_qscores
from .smoc import residue_smoc


def field_scores(
    density: DensityMap, structure: Structure, resolution: float, *, model_map: DensityMap | None = None
) -> dict[str, float]:
    """Phenix CCs, map-model FSC 0.5 resolution and mean Q of ``density`` against ``structure``.

    ``model_map`` (for the CCs) defaults to ``s2mlib.simulate.molmap(structure, resolution)`` on ``density``'s grid.
    Keys: ``cc_mask``, ``cc_box``, ``cc_volume``, ``cc_peaks``, ``mask_voxels`` (:func:`.phenix.map_model_cc`),
    ``fsc_0.5_resolution`` (A, :func:`.fsc.map_model_fsc` + :func:`.fsc.fsc_resolution`), ``q_mean``.
    """
    if model_map is None:
        from ..simulate import molmap

        model_map = molmap(structure, resolution, ref_map=density)
    scores: dict[str, float] = dict(map_model_cc(density, model_map, structure))
    scores["fsc_0.5_resolution"] = fsc_resolution(map_model_fsc(density, structure), 0.5)
    scores["q_mean"] = mean_qscore(atom_qscores(density, structure))
    return scores


def per_residue_scores(density: DensityMap, structure: Structure, resolution: float) -> pd.DataFrame:
    """Q-score and SMOC of every residue: chain, residue_number, insertion_code, residue_name, q, smoc.

    Q: mean over the residue's heavy atoms (:func:`.qscore.residue_qscores`); SMOC: TEMPy's, at ``resolution``
    (:func:`.smoc.residue_smoc`), which merges insertion codes: residues differing only in insertion code share one.
    """
    table = residue_qscores(structure, atom_qscores(density, structure)).drop(columns="n_atoms")
    smoc_table = residue_smoc(density, structure, resolution).drop(columns="residue_name")
    return table.merge(smoc_table, on=["chain", "residue_number"], how="left", sort=False)
