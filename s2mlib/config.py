"""Run profiles: ``params/<profile>.yaml`` plus overrides (papermill ``-p key value``, ``S2M_MANIFEST``).

Notebooks declare every parameter with ``None`` ("as the profile says") and call
``load_profile(profile, locals())``; the result is a plain dict with paths made absolute.

Example:
    >>> p = load_profile("default", {"epochs": 1, "unrelated": 5})
    >>> p["epochs"], p["profile"]
    (1, 'default')
"""
from __future__ import annotations

import inspect
import os
from pathlib import Path
from typing import Any, Mapping

import yaml

from .errors import S2MError

ROOT = Path(__file__).resolve().parents[1]
PARAMS_DIR = ROOT / "params"
PATH_KEYS = ("manifest", "run_dir", "figures_dir")


def profile_path(name: str) -> Path:
    path = PARAMS_DIR / f"{name}.yaml"
    if not path.exists():
        known = sorted(p.stem for p in PARAMS_DIR.glob("*.yaml"))
        raise S2MError(f"{path}: no such profile '{name}' (known profiles: {', '.join(known)})")
    return path


def load_profile(name: str = "default", overrides: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The profile's parameters, updated by the non-None ``overrides`` whose keys the profile defines.

    The manifest comes from, in order: an override, ``$S2M_MANIFEST``, the profile. Relative paths are taken
    from the project root.
    """
    with open(profile_path(name)) as fh:
        params = yaml.safe_load(fh) or {}
    params["profile"] = name
    for key, value in (overrides or {}).items():
        if key in params and key != "profile" and value is not None:
            params[key] = value
    if (overrides or {}).get("manifest") is None and os.environ.get("S2M_MANIFEST"):
        params["manifest"] = os.environ["S2M_MANIFEST"]
    for key in PATH_KEYS:
        if params.get(key) is not None:
            params[key] = str((ROOT / os.path.expanduser(str(params[key]))).resolve())
    return params


def kwargs_for(func, params: Mapping[str, Any]) -> dict[str, Any]:
    """The entries of ``params`` that ``func`` (a function or class) takes as keyword arguments.

    >>> def f(a, *, seed=0, width=1): ...
    >>> kwargs_for(f, {"seed": 3, "epochs": 5})
    {'seed': 3}
    """
    accepted = inspect.signature(func).parameters
    return {k: v for k, v in params.items() if k in accepted and k != "self"}
