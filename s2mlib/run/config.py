"""Run profiles: ``params/<profile>.yaml`` plus overrides (papermill ``-p key value``, ``S2M_MANIFEST``), and the
named paths of a run folder.

Notebooks declare every parameter with ``None`` ("as the profile says") and start with one call,
``run = start(profile, globals())`` (:func:`s2mlib.run.session.start`): the profile's parameters (``run.params``, a
plain dict with paths made absolute), the run and figure folders (created), the label that figures are recorded with,
and the run folder's named paths (``run.paths.generator``, ``run.paths.scores`` ...), so no notebook spells a path
itself.

Profile keys are the names of what they feed (:func:`known_keys`): the fields of
:class:`~s2mlib.study.curate.CurationConfig` and :class:`~s2mlib.gan.train.TrainConfig`, the arguments of
:class:`~s2mlib.gan.generate.MapGenerator` (also with a ``generate_`` prefix), and the run's own (:data:`RUN_KEYS`). A
profile file or a ``-p KEY VALUE`` with any other key is refused, naming the nearest known one (:func:`check_keys`).

The profiles and manifests are the compendium's files, not the package's: they live in the project checkout,
:data:`ROOT` (:func:`project_root`: ``$S2M_ROOT``, else the checkout the package was imported from, else the current
folder). A wheel installed elsewhere needs none of them to generate, simulate or score maps.

Example:
    >>> p = load_profile("default", {"epochs": 1, "unrelated": 5})
    >>> p["epochs"], p["profile"]
    (1, 'default')
    >>> RunPaths(Path("/runs/default")).generator
    PosixPath('/runs/default/train/generator.pt')
"""

from __future__ import annotations

import argparse
import inspect
import os
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

import yaml

from ..errors import MissingInput, S2MError


def project_root() -> Path:
    """The compendium's root (profiles in ``params/``, manifests, notebooks): ``$S2M_ROOT``, else the checkout that
    holds this package (an editable install, or running from the checkout), else the current folder."""
    if os.environ.get("S2M_ROOT"):
        return Path(os.environ["S2M_ROOT"]).expanduser().resolve()
    checkout = Path(__file__).resolve().parents[2]
    return checkout if (checkout / "params").is_dir() else Path.cwd().resolve()


ROOT = project_root()
PARAMS_DIR = ROOT / "params"
PATH_KEYS = ("manifest", "run_dir", "figures_dir")
SOURCE_KEYS = (
    "cache",
    "mirror",
    "emdb_url",
    "pdb_url",
)  # folders (taken from the project root, like PATH_KEYS) or URLs
ENV_KEYS = {"manifest": "S2M_MANIFEST", "run_dir": "S2M_RUN_DIR", "figures_dir": "S2M_FIGURES_DIR"}
# Profile keys that no library signature names, and what reads them
RUN_KEYS = {
    "description": "the runner's one-line summary of the profile",
    "manifest": "01: the entries (a file; $S2M_MANIFEST)",
    "run_dir": "every notebook: the run folder ($S2M_RUN_DIR)",
    "figures_dir": "every notebook: figures and tables ($S2M_FIGURES_DIR)",
    "nproc": "04: training processes (s2mlib.gan.distributed.resolve_nproc)",
    "weights": "05, 07: the generator's weights ('fast', 'shipped', 'run' or a file)",
    "timing_sizes": "05: Figure 7's structure sizes (residues)",
    "contour_fraction": "06, 08: ChimeraX's contour for the correlations",
    "res_min": "07: Figure 5's lower resolution bound",
    "res_max": "07: Figure 5's upper resolution bound",
    "series_resolutions": "07: target resolutions of the series",
    "check_resolutions": "07: target resolutions of the matched-resolution check",
    "ablation_resolutions": "08: target resolutions of the conditioning ablation",
    "seeds": "08: trainings per variant (seeds seed .. seed + seeds - 1)",
    "ablation_epochs": "08: epochs per variant and seed",
    "ablation_patches_per_epoch": "08: patches per epoch per variant and seed",
    "cache": "01: the download cache folder (null: $S2M_CACHE, else ~/.cache/struc2map)",
    "mirror": "01: a mirror of EMDB and/or the PDB, URL or folder (s2mlib.io.sources; README, Data)",
    "mirror_layout": "01: the mirror's layout: auto (detected), emdb, wwpdb or s2m",
    "emdb_url": "01: EMDB's base URL or folder (null: $S2M_EMDB_URL, else EBI's)",
    "pdb_url": "01: the PDB's base URL or folder (null: $S2M_PDB_URL, else RCSB's)",
    "template_splits": "09: the curation splits whose entries make the synthetic tomograms and micrographs",
    "template_pixel_size": "09: pixel size (A) of the tomograms, micrographs and templates (templates at 2 x it)",
    "template_snrs": "09: the tomograms' SNRs",
    "micrograph_snrs": "09: the micrographs' SNRs",
    "template_angular_sampling": "09: pytme's angular sampling (degrees) of the search",
    "template_particles": "09: particles per tomogram and per micrograph",
    "tomogram_size": "09: edge of the synthetic tomograms (voxels)",
    "micrograph_size": "09: edge of the synthetic micrographs (pixels)",
    "template_defocus": "09: the CTF's defocus (um) of the data and the templates",
}
GENERATE_PREFIX = "generate_"  # generator arguments named like training ones: generate_precision -> precision=
RENAMED_KEYS = {  # keys of older profiles, refused with their new names
    "bf16": "precision (fp32, bf16 or auto: bf16 where the hardware computes it natively)",
    "generate_bf16": "generate_precision (fp32, bf16 or auto: bf16 where the hardware computes it natively)",
}


def known_keys() -> set[str]:
    """Every key a profile may hold: :data:`RUN_KEYS`, CurationConfig's and TrainConfig's fields and MapGenerator's
    arguments (plain and with :data:`GENERATE_PREFIX`)."""
    from ..gan.generate import MapGenerator
    from ..gan.train import TrainConfig
    from ..study.curate import CurationConfig

    generator = [name for name in inspect.signature(MapGenerator).parameters if name != "weights"]
    configs = [f.name for config in (CurationConfig, TrainConfig) for f in fields(config)]
    return {*RUN_KEYS, *configs, *generator, *(GENERATE_PREFIX + name for name in generator)}


def check_keys(keys: Iterable[str], where: str) -> None:
    """Raise :class:`S2MError` naming ``where`` and the nearest known key for the first key that no profile may hold
    (:func:`known_keys`): the one check of profile files and of ``-p KEY VALUE``."""
    import difflib

    known = known_keys()
    for key in keys:
        if key in RENAMED_KEYS:
            raise S2MError(f"{where}: parameter {key!r} is now {RENAMED_KEYS[key]}")
        if key not in known:
            near = difflib.get_close_matches(key, sorted(known), n=1, cutoff=0.5)
            hint = f"; did you mean {near[0]}?" if near else " (the keys: README, Profiles and overrides)"
            raise S2MError(f"{where}: no parameter {key!r}{hint}")


def profile_path(name: str) -> Path:
    path = PARAMS_DIR / f"{name}.yaml"
    if not PARAMS_DIR.is_dir():
        raise S2MError(
            f"{PARAMS_DIR}: no profiles here. Profiles and manifests belong to the struc2map checkout: run from it "
            f"or set S2M_ROOT to it"
        )
    if not path.exists():
        known = sorted(p.stem for p in PARAMS_DIR.glob("*.yaml"))
        raise S2MError(f"{path}: no such profile '{name}' (known profiles: {', '.join(known)})")
    return path


def load_profile(name: str = "default", overrides: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The profile's parameters, updated by the non-None ``overrides`` whose keys a profile may hold (other names,
    such as a notebook's own globals, are ignored). A profile file with an unknown key is refused (:func:`check_keys`).

    The manifest, run folder and figure folder come from, in order: an override, ``$S2M_MANIFEST`` /
    ``$S2M_RUN_DIR`` / ``$S2M_FIGURES_DIR`` (:data:`ENV_KEYS`), the profile. Relative paths are taken from the
    project root, also for the download folders of :data:`SOURCE_KEYS` (URLs stay as they are).
    """
    path = profile_path(name)
    with open(path) as fh:
        params = yaml.safe_load(fh) or {}
    check_keys(params, str(path))
    params["profile"] = name
    known = known_keys()
    for key, value in (overrides or {}).items():
        if key in known and value is not None:
            params[key] = value
    for key, variable in ENV_KEYS.items():
        if (overrides or {}).get(key) is None and os.environ.get(variable):
            params[key] = os.environ[variable]
    for key in PATH_KEYS:
        if params.get(key) is not None:
            params[key] = str((ROOT / os.path.expanduser(str(params[key]))).resolve())
    for key in SOURCE_KEYS:
        value = params.get(key)
        if value and not str(value).startswith(("http://", "https://", "file://")):
            params[key] = str((ROOT / os.path.expanduser(str(value))).resolve())
    return params


def _type_problem(value: Any, default: Any) -> str | None:
    """Why ``value`` cannot stand where the profile has ``default`` (None when it can): the notebooks' settings take
    the profile's types (a bool, a whole number, a number, a list; a text key also takes a number, e.g. nproc 2)."""
    number = isinstance(value, int | float) and not isinstance(value, bool)
    if value is None or default is None:
        return None
    if isinstance(default, bool):
        return None if isinstance(value, bool) else "true or false"
    if isinstance(default, int):
        return None if number and isinstance(value, int) else "a whole number"
    if isinstance(default, float):
        return None if number else "a number"
    if isinstance(default, list):
        return None if isinstance(value, list) else "a list such as [3.5, 5.0]"
    return None if isinstance(value, str) or number else "a word or a path"


def check_overrides(profile: str, overrides: Mapping[str, Any]) -> dict[str, Any]:
    """The pre-flight of ``-p KEY VALUE`` (``./run_all.sh``, its ``--dry-run`` and ``python -m s2mlib.run.train``),
    before any work: every key must be one a profile may hold (:func:`check_keys`, as for profile files: a typo names
    the nearest known key), every value of the profile's type (:func:`_type_problem`), and the settings must pass the
    checks the notebooks apply (``TrainConfig``, ``CurationConfig``, the generator's device and batch size). Raises
    :class:`S2MError` with one line; returns the profile's parameters with the overrides."""
    with open(profile_path(profile)) as fh:
        defaults = yaml.safe_load(fh) or {}
    for key, value in overrides.items():
        if key == "profile":
            raise S2MError("-p profile: choose the profile with --profile NAME")
        check_keys([key], f"-p {key}: profile {profile}")
        need = _type_problem(value, defaults.get(key))
        if need:
            raise S2MError(f"-p {key} {value!r}: {key} takes {need} (profile {profile} has {defaults[key]!r})")
    params = load_profile(profile, overrides)
    from ..gan.model import resolve_device
    from ..gan.train import TrainConfig
    from ..study.curate import CurationConfig

    checks = {
        "training": lambda: TrainConfig(**kwargs_for(TrainConfig, params)),
        "curation": lambda: CurationConfig.from_params(params),
        "device": lambda: resolve_device(params.get("device", "auto")),
    }
    for what, check in checks.items():
        try:
            check()
        except (TypeError, ValueError) as exc:
            given = " ".join(f"-p {k} {v!r}" for k, v in overrides.items())
            raise S2MError(f"{given or f'profile {profile}'}: the {what} settings are invalid: {exc}") from None
    batch = params.get("generate_batch_size")
    if batch is not None and not (isinstance(batch, int) and batch >= 1):
        raise S2MError(f"-p generate_batch_size {batch!r}: the generator's batch size must be a whole number >= 1")
    return params


def parse_value(text: str) -> Any:
    """Papermill-like typing of ``-p key value``: YAML scalars (3 -> int, 0.5 -> float, true, null); a number in
    exponent form that YAML 1.1 reads as text (1e-4) is a float.

    >>> parse_value("1e-4"), parse_value("3"), parse_value("auto")
    (0.0001, 3, 'auto')
    """
    try:
        value = yaml.safe_load(text)
    except yaml.YAMLError:
        return text
    if isinstance(value, str) and re.fullmatch(r"[-+]?(\d+\.?\d*|\.\d+)[eE][-+]?\d+", value.strip()):
        return float(value)
    return value


def add_override_option(parser: argparse.ArgumentParser, help_text: str) -> None:
    """The repeatable ``-p KEY VALUE`` option of ``./run_all.sh`` and ``python -m s2mlib.run.train``
    (``args.parameter``, a list of pairs; type each value with :func:`parse_value`)."""
    parser.add_argument(
        "-p", "--parameter", nargs=2, action="append", default=[], metavar=("KEY", "VALUE"), help=help_text
    )


def kwargs_for(func, params: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """The entries of ``params`` that ``func`` (a function or class) takes as keyword arguments; with ``prefix``,
    a key ``prefix + name`` gives ``name`` and wins over a plain ``name`` (e.g. the profile's ``generate_precision``
    is the generator's ``precision``, while ``precision`` is training's).

    >>> def f(a, *, seed=0, precision="auto"): ...
    >>> kwargs_for(f, {"seed": 3, "epochs": 5, "precision": "bf16", "generate_precision": "fp32"}, prefix="generate_")
    {'seed': 3, 'precision': 'fp32'}
    """
    accepted = [name for name in inspect.signature(func).parameters if name != "self"]
    out = {k: params[k] for k in accepted if k in params}
    if prefix:
        out.update({k: params[prefix + k] for k in accepted if prefix + k in params})
    return out


@dataclass(frozen=True)
class RunPaths:
    """The named files and folders of a run folder (``runs/<profile>``), written by one notebook, read by others."""

    root: Path

    @property
    def curation_table(self) -> Path:  # 01 -> every later notebook: kept / excluded entries, splits, file paths
        return self.root / "curation.csv"  # curate.CURATION_TABLE

    @property
    def downloads(self) -> Path:  # 01 -> the runner: what was downloaded, found in the cache, failed and why
        return self.root / "downloads.txt"

    @property
    def map_quality(self) -> Path:  # 01 -> 07: the deposited maps' own mean Q-score and map-model FSC
        return self.root / "map_quality.csv"

    @property
    def curated(self) -> Path:  # 01: ExpMaps, SimMaps and their cache records
        return self.root / "curated"

    @property
    def train(self) -> Path:  # 04: checkpoint.pt, history.csv, generator.pt
        return self.root / "train"

    @property
    def generator(self) -> Path:  # 04's exported generator ('weights: run')
        return self.train / "generator.pt"

    @property
    def snapshots(self) -> Path:  # 04: the generator after each epoch (Figure 3)
        return self.train / "snapshots"

    @property
    def baselines(self) -> Path:  # 02, 06: simulated maps per entry
        return self.root / "baselines"

    @property
    def generated(self) -> Path:  # 05: generated maps of the test entries
        return self.root / "generated"

    @property
    def generated_table(self) -> Path:  # 05 -> 06: which map was generated for which entry, and how fast
        return self.generated / "generated.csv"

    @property
    def scores(self) -> Path:  # 06 -> 07: every map's scores
        return self.root / "scores.csv"

    @property
    def series(self) -> Path:  # 07: maps of the test entries at target resolutions
        return self.root / "series"

    @property
    def series_table(self) -> Path:  # 07: their scores against the low-passed experimental maps
        return self.series / "series.csv"

    @property
    def ablation(self) -> Path:  # 08: the variants' runs and maps
        return self.root / "ablation"

    @property
    def raw_targets(self) -> Path:  # 08: unmasked targets
        return self.root / "raw_targets"

    @property
    def notebooks(self) -> Path:  # the runner: executed notebooks and their HTML
        return self.root / "notebooks"

    @property
    def interactive_figures(self) -> Path:  # figures and tables of a notebook run by hand (start)
        return self.root / "figures"


# The run folder's files each notebook reads (RunPaths attributes), and the notebook that writes each. The generator
# is needed by 05 and 07 only with 'weights: run'.
MADE_BY = {
    "curation_table": "01_curate",
    "map_quality": "01_curate",
    "generator": "04_train",
    "generated_table": "05_generate",
    "scores": "06_benchmark",
}
NEEDS = {
    "02": ("curation_table",),
    "03": ("curation_table",),
    "04": ("curation_table",),
    "05": ("curation_table", "generator"),
    "06": ("curation_table", "generated_table"),
    "07": ("curation_table", "map_quality", "scores", "generator"),
    "08": ("curation_table", "generator"),
    "09": ("curation_table",),
}


def missing_inputs(notebook: str, params: Mapping[str, Any]) -> dict[str, Path]:
    """The inputs of ``notebook`` (its number, e.g. '06') missing from the profile's run folder, by the notebook
    that makes each (:data:`NEEDS`, :data:`MADE_BY`), including what those notebooks would need in turn.

    >>> missing_inputs("06", {"run_dir": "/nowhere", "weights": "fast"})
    {'01_curate': PosixPath('/nowhere/curation.csv'), '05_generate': PosixPath('/nowhere/generated/generated.csv')}
    """
    paths = RunPaths(Path(params["run_dir"]))
    own_weights = str(params.get("weights")) in ("run", str(paths.generator))
    missing: dict[str, Path] = {}
    for name in NEEDS.get(notebook[:2], ()):
        path, maker = getattr(paths, name), MADE_BY[name]
        if name == "generator" and notebook[:2] in ("05", "07") and not own_weights:
            continue
        if not path.exists() and maker not in missing:
            missing.update(missing_inputs(maker, params))
            missing[maker] = path
    return dict(sorted(missing.items()))


def check_inputs(notebooks: list[str], params: Mapping[str, Any]) -> None:
    """Raise :class:`MissingInput`, one line, when one of ``notebooks`` (names or numbers, in run order) needs a file
    of the run folder that is missing and that no earlier notebook of the list makes.

    >>> check_inputs(["06_benchmark"], {"run_dir": "/nowhere", "weights": "fast"})
    Traceback (most recent call last):
    s2mlib.errors.MissingInput: 06_benchmark needs /nowhere/curation.csv (made by notebook 01_curate), \
/nowhere/generated/generated.csv (made by notebook 05_generate): run them first (./run_all.sh --only 01 --only 05)
    """
    made: set[str] = set()
    for notebook in notebooks:
        missing = {maker: path for maker, path in missing_inputs(notebook, params).items() if maker not in made}
        if missing:
            what = ", ".join(f"{path} (made by notebook {maker})" for maker, path in missing.items())
            only = " ".join(f"--only {maker[:2]}" for maker in missing)
            them = "them" if len(missing) > 1 else "it"
            raise MissingInput(f"{notebook} needs {what}: run {them} first (./run_all.sh {only})")
        made.add(Path(notebook).stem)
        made.update(maker for maker in MADE_BY.values() if maker.startswith(notebook[:2]))
