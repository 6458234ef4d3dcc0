"""The field's model-fit scores of one map and one model, in one call each (for ``s2m evaluate`` and notebook tables).

- :func:`field_scores`: Phenix's CC_mask, CC_box, CC_volume, CC_peaks against the model's molmap at the given
  resolution (:mod:`.phenix`), the map-model FSC = 0.5 resolution against a Nyquist molmap (:mod:`.fsc`, TEMPy's
  rule) and the mean Q-score (:mod:`.qscore`).
- :func:`per_residue_scores`: Q-score (mapq) and SMOC (TEMPy) of every residue.
- :func:`model_fit_scores`: all of :func:`field_scores` and the mean SMOC at a given or the matched resolution
  (``s2m evaluate --model``).
- :func:`scores_in_b_factors`, :func:`write_confidence`: the model with each residue's score in the B-factor
  column (``s2m confidence``, ``s2m generate --confidence``), which ChimeraX (``color bfactor``) and nglview
  (``color_scheme="bfactor"``) colour by.

Example:
    >>> from s2mlib.io.atoms import read_structure
    >>> from s2mlib.io.density import read_map
    >>> scores = field_scores(read_map("emd.map"), read_structure("model.pdb"), 3.4)   # doctest: +SKIP
    >>> sorted(scores)                                                                  # doctest: +SKIP
    ['cc_box', 'cc_mask', 'cc_peaks', 'cc_volume', 'fsc_0.5_resolution', 'mask_voxels', 'q_mean']
"""

from __future__ import annotations

import math
import os
from typing import TYPE_CHECKING

import pandas as pd

from ..io.atoms import Structure
from ..io.density import DensityMap
from .fsc import fsc_resolution, map_model_fsc
from .phenix import map_model_cc
from .qscore import atom_qscores, mean_qscore, residue_qscores
from .smoc import residue_smoc

if TYPE_CHECKING:
    import gemmi

RESIDUE_SCORES = {"q": "Q-score (mapq)", "smoc": "SMOC (TEMPy)"}  # per-residue scores a model can carry


def field_scores(
    density: DensityMap, structure: Structure, resolution: float, *, model_map: DensityMap | None = None
) -> dict[str, float]:
    """Phenix CCs, map-model FSC 0.5 resolution and mean Q of ``density`` against ``structure``.

    ``model_map`` (for the CCs) defaults to ``s2mlib.sim.simulate.molmap(structure, resolution)`` on ``density``'s grid.
    Keys: ``cc_mask``, ``cc_box``, ``cc_volume``, ``cc_peaks``, ``mask_voxels`` (:func:`.phenix.map_model_cc`),
    ``fsc_0.5_resolution`` (A, :func:`.fsc.map_model_fsc` + :func:`.fsc.fsc_resolution`), ``q_mean``.
    """
    if model_map is None:
        from ..sim.simulate import molmap

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


def resolution_for(density: DensityMap, structure: Structure, resolution: float | None) -> dict:
    """``resolution`` and where it came from: given, else :func:`.fsc.matched_resolution` (and its CC)."""
    if resolution is not None:
        return {"resolution": float(resolution), "resolution_source": "--resolution"}
    from .fsc import matched_resolution

    matched, cc = matched_resolution(density, structure)
    source = "matched" if math.isfinite(cc) else "nothing matched (the map is constant): the search's lowest"
    return {"resolution": float(matched), "resolution_source": source, "matched_cc": float(cc)}


def model_fit_scores(
    density: DensityMap, structure: Structure, resolution: float | None, *, per_residue: bool = False
) -> tuple[dict, pd.DataFrame | None]:
    """The field's scores of one map against the model: resolution used (given or matched), Phenix CC_mask, CC_box,
    CC_volume, CC_peaks, map-model FSC 0.5 resolution, mean Q (:func:`field_scores`) and the mean of TEMPy's
    per-residue SMOC; with ``per_residue`` also :func:`per_residue_scores` (else None).
    The FSC resolution of a constant map is NaN (its FSC is 0/0), not TEMPy's 0 for a curve that never crosses.
    """
    fit = resolution_for(density, structure, resolution)
    fit.update(field_scores(density, structure, fit["resolution"]))
    if float(density.data.max()) == float(density.data.min()):  # FSC 0/0 (TEMPy's rule would report 0: no crossing)
        fit["fsc_0.5_resolution"] = math.nan
    if per_residue:
        table = per_residue_scores(density, structure, fit["resolution"])
        smoc = table.drop_duplicates(["chain", "residue_number"])["smoc"]  # SMOC merges insertion codes
    else:
        table, smoc = None, residue_smoc(density, structure, fit["resolution"])["smoc"]
    fit["smoc_mean"] = float(smoc.mean()) if len(smoc) else math.nan
    return fit, table


def scores_in_b_factors(structure: Structure, table: pd.DataFrame, column: str) -> tuple[gemmi.Structure, int]:
    """A copy of ``structure``'s gemmi model (every conformer) with each atom's B-factor set to its residue's
    ``column`` in ``table`` (0 where the residue has no finite score; anisotropic ADPs cleared, so viewers colour
    by the score); returns it and the number of residues without a score.

    Residues are matched on the table's ``chain``, ``residue_number`` and, where it has them, ``residue_name`` and
    ``insertion_code`` (left out when every code is blank, as for SMOC, which merges insertion codes).
    """
    import gemmi

    keys = [k for k in ("chain", "residue_number", "insertion_code", "residue_name") if k in table.columns]
    if "insertion_code" in keys and not table["insertion_code"].astype(str).str.strip().any():
        keys.remove("insertion_code")
    finite = table[table[column].astype(float).map(math.isfinite)]
    scores = {tuple(row[:-1]): float(row[-1]) for row in finite[keys + [column]].itertuples(index=False)}
    st = structure.gemmi_structure.clone()
    unscored = 0
    for chain in st[0]:
        for res in chain:
            fields = {
                "chain": chain.name,
                "residue_number": res.seqid.num,
                "insertion_code": res.seqid.icode.strip(),
                "residue_name": res.name,
            }
            value = scores.get(tuple(fields[k] for k in keys))
            unscored += value is None
            for atom in res:
                atom.b_iso = 0.0 if value is None else value
                atom.aniso = gemmi.SMat33f(0, 0, 0, 0, 0, 0)
    return st, unscored


def write_confidence(
    density: DensityMap,
    structure: Structure,
    path: str | os.PathLike,
    score: str = "q",
    resolution: float | None = None,
    resolution_source: str = "--resolution",
) -> str:
    """Score every residue of ``structure`` in ``density`` (``q``: mapq's Q, no resolution needed; ``smoc``:
    TEMPy's SMOC at ``resolution``, named by ``resolution_source``, else the matched one), write the model with
    the scores in the B-factor column (:func:`scores_in_b_factors`, :func:`s2mlib.io.atoms.write_structure`) and return
    a one-line summary."""
    from ..io.atoms import write_structure

    at = ""
    if score == "q":
        table = residue_qscores(structure, atom_qscores(density, structure))
    else:
        used = resolution_for(density, structure, resolution)
        source = resolution_source if resolution is not None else used["resolution_source"]
        at = f" at {used['resolution']:.2f} A ({source})"
        table = residue_smoc(density, structure, used["resolution"]).drop(columns="residue_name")
    st, unscored = scores_in_b_factors(structure, table, score)
    write_structure(st, path)
    values = table[score].astype(float)
    values = values[values.map(math.isfinite)]
    spread = f"mean {values.mean():.3f}, min {values.min():.3f}, max {values.max():.3f}" if len(values) else "none"
    n_residues = sum(len(chain) for chain in st[0])
    return (
        f"{path}: {RESIDUE_SCORES[score]}{at} of each residue in the B-factor column ({n_residues - unscored} of "
        f"{n_residues} residues scored: {spread}; {unscored} without a score set to 0)"
    )
