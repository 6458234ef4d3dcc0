"""struc2map: experimental-like cryo-EM density maps from atomic structures (after struc2mapGAN).

The entry points, each importable from ``s2mlib`` (the names in ``__all__``; all but the maps, models and errors are
imported on first use, so ``import s2mlib`` does not load torch). The modules hold the rest: :mod:`s2mlib.sim.simulate`
(``simulate(model, method, resolution)``), :mod:`s2mlib.metrics`, :mod:`s2mlib.gan.train`, :mod:`s2mlib.gan.batch` ...

Maps and models: read, inspect, write (MRC/CCP4, PDB/mmCIF, gzip or not)

>>> import s2mlib
>>> from pathlib import Path
>>> data = Path(s2mlib.__file__).parents[1] / "tests" / "data" / "pairs" / "5925_3J6J"
>>> model = s2mlib.read_structure(data / "5925_native.pdb.gz")
>>> model.n_atoms, model.n_residues
(793, 97)
>>> exp = s2mlib.read_map(data / "5925.mrc.gz")
>>> exp.shape_xyz, exp.voxel_size.round(3).tolist()
((71, 68, 68), [1.1, 1.1, 1.1])

Simulated baselines (molmap, e2pdb2mrc, TEMPy's blurrer, gemmi), on their own grid or another map's

>>> sim = s2mlib.molmap(model, 4.0, ref_map=exp)
>>> sim.shape_xyz == exp.shape_xyz
True

The GAN's map (the default ``fast`` weights), at a target resolution

>>> generator = s2mlib.MapGenerator(device="cpu", progress=False)
>>> generated = generator(model, resolution=4.0)
>>> generated.voxel_size.tolist(), generator.last_resolution
([1.0, 1.0, 1.0], 4.0)

Scores against the experimental map (the paper's) and against the model (the field's)

>>> scores = s2mlib.evaluate(generated, exp, model)
>>> 0 < scores["correlation_about_mean"] <= 1
True
>>> fit = s2mlib.field_scores(exp, model, 3.6)  # Phenix CCs, map-model FSC, Q-score   # doctest: +SKIP

Curation of a training pair (the paper's ExpMap and SimMap) and training

>>> target = s2mlib.curate_exp_map(exp, model)  # CurationConfig's defaults, as s2m curate and notebook 01
>>> float(target.data.min()), float(target.data.max())
(0.0, 1.0)
>>> s2mlib.TrainConfig(epochs=3, width=4).epochs
3
>>> history = s2mlib.train_from_table(table, "runs/x/train", s2mlib.TrainConfig())  # doctest: +SKIP

Errors: the user's input raises an :class:`S2MError` subclass (one line, naming the file or setting)

>>> s2mlib.molmap(model, -1.0)
Traceback (most recent call last):
s2mlib.errors.InputError: resolution must be a positive number of Angstrom, got -1.0

The command line (``s2m``) does the same from a shell; the notebooks and profiles of the project checkout
reproduce the paper (README).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from .errors import (
    DownloadError,
    InputError,
    ManifestError,
    MapError,
    MissingDependency,
    OutputError,
    S2MError,
    StructureError,
    WeightsError,
)
from .io.atoms import Structure, read_structure, write_structure
from .io.density import DensityMap, read_map, write_map
from .version import __version__

# name -> module, imported on first use
_LAZY = {
    "molmap": "sim.simulate",
    "e2pdb2mrc": "sim.simulate",
    "blurrer": "sim.simulate",
    "gemmi_density": "sim.simulate",
    "MapGenerator": "gan.generate",
    "CurationConfig": "study.curate",
    "curate_exp_map": "study.curate",
    "make_sim_map": "study.curate",
    "curate_manifest": "study.curate",
    "load_manifest": "io.manifest",
    "TrainConfig": "gan.train",
    "train_from_table": "gan.train",
    "evaluate": "metrics",
    "field_scores": "metrics",
    "model_fit_scores": "metrics",
    "per_residue_scores": "metrics",
    "write_confidence": "metrics",
}

__all__ = [
    "DensityMap",
    "read_map",
    "write_map",
    "Structure",
    "read_structure",
    "write_structure",
    "molmap",
    "e2pdb2mrc",
    "blurrer",
    "gemmi_density",
    "MapGenerator",
    "CurationConfig",
    "curate_exp_map",
    "make_sim_map",
    "curate_manifest",
    "load_manifest",
    "TrainConfig",
    "train_from_table",
    "evaluate",
    "field_scores",
    "model_fit_scores",
    "per_residue_scores",
    "write_confidence",
    "S2MError",
    "InputError",
    "MapError",
    "StructureError",
    "ManifestError",
    "WeightsError",
    "DownloadError",
    "OutputError",
    "MissingDependency",
    "__version__",
]

if TYPE_CHECKING:
    from .gan.generate import MapGenerator
    from .gan.train import TrainConfig, train_from_table
    from .io.manifest import load_manifest
    from .metrics import evaluate, field_scores, model_fit_scores, per_residue_scores, write_confidence
    from .sim.simulate import blurrer, e2pdb2mrc, gemmi_density, molmap
    from .study.curate import CurationConfig, curate_exp_map, curate_manifest, make_sim_map


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        value = getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))
