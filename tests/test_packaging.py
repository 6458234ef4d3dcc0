"""pyproject.toml lists every package of s2mlib, so a built wheel holds all of them (an editable install hides a
missing one): found here by walking the source tree for ``__init__.py``, not by asking setuptools."""

from __future__ import annotations

import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_every_package_and_the_weights_are_in_the_build():
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    found = {".".join(init.parent.relative_to(ROOT).parts) for init in (ROOT / "s2mlib").rglob("__init__.py")}
    assert found == set(config["packages"]), f"pyproject packages {config['packages']} against the tree {found}"
    weights = [p.name for p in (ROOT / "s2mlib" / "weights").iterdir()]
    globs = config["package-data"]["s2mlib"]
    assert all(any(Path("weights", name).match(g) for g in globs) for name in weights), (weights, globs)
