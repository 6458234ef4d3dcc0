"""The package as a user gets it: pyproject.toml lists every package of s2mlib and its data (an editable install hides
a missing one: found here by walking the source tree, not by asking setuptools); a wheel built from the checkout and
installed, not editable, outside it imports every module and generates a map from another working directory; the
declared dependency ranges hold environment.yml's pins; one version everywhere."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
from helpers import ROOT, TEST_DATA
from packaging.requirements import Requirement

import s2mlib

PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())
MODEL = TEST_DATA / "pairs" / "5925_3J6J" / "5925_native.pdb.gz"


def test_every_package_and_the_weights_are_in_the_build():
    config = PYPROJECT["tool"]["setuptools"]
    found = {".".join(init.parent.relative_to(ROOT).parts) for init in (ROOT / "s2mlib").rglob("__init__.py")}
    assert found == set(config["packages"]), f"pyproject packages {config['packages']} against the tree {found}"
    data = [
        p.relative_to(ROOT / "s2mlib") for folder in ("weights", "tables") for p in (ROOT / "s2mlib" / folder).iterdir()
    ]
    globs = config["package-data"]["s2mlib"]
    assert all(any(path.match(g) for g in globs) for path in data), (data, globs)


def pins() -> dict[str, str]:
    """environment.yml's pins (pip list and no-deps comments), by normalised name."""
    text = (ROOT / "environment.yml").read_text()
    found = re.findall(r"^\s*(?:- |# no-deps:\s*)([A-Za-z0-9_.-]+)==(\S+)", text, re.M)
    return {name.lower().replace("_", "-"): version for name, version in found}


def test_declared_dependency_ranges_hold_the_pinned_environment():
    """pyproject.toml declares ranges, environment.yml pins the tested set: every declared requirement (extras too)
    is pinned, and its pin lies in the range, so the two cannot drift apart."""
    project = PYPROJECT["project"]
    declared = [*project["dependencies"], *(r for extra in project["optional-dependencies"].values() for r in extra)]
    pinned = pins()
    assert len(declared) >= 13
    for text in declared:
        requirement = Requirement(text)
        name = requirement.name.lower().replace("_", "-")
        assert name in pinned, f"{text}: not pinned in environment.yml"
        assert requirement.specifier.contains(pinned[name]), f"{text}: environment.yml pins {pinned[name]}"


def test_one_version():
    """s2mlib/version.py is the one place (s2mlib.__version__ is it): pyproject reads it, and the citation file
    agrees."""
    import yaml

    assert "version" not in PYPROJECT["project"] and "version" in PYPROJECT["project"]["dynamic"]
    assert PYPROJECT["tool"]["setuptools"]["dynamic"]["version"] == {"attr": "s2mlib.version.__version__"}
    assert yaml.safe_load((ROOT / "CITATION.cff").read_text())["version"] == s2mlib.__version__
    assert f"## [{s2mlib.__version__}]" in (ROOT / "CHANGELOG.md").read_text()


def run(args: list, cwd: Path, env: dict | None = None, timeout: float = 120) -> str:
    done = subprocess.run([str(a) for a in args], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    assert done.returncode == 0, f"{args}: exit {done.returncode}\n{done.stdout}\n{done.stderr}"
    return done.stdout


@pytest.mark.filterwarnings("ignore")
def test_a_wheel_installed_outside_the_checkout_generates_a_map(tmp_path):
    """Built from a copy of the checkout's files (pip wheel, no isolation: offline), installed with --target (not
    editable) into a fresh folder, and run with this environment's packages from another working directory: every
    module imports from the install, and s2m generate makes a valid map of a tests/data model."""
    source = tmp_path / "source"
    source.mkdir()
    for name in ("pyproject.toml", "README.md", "LICENSE"):
        shutil.copy(ROOT / name, source / name)
    shutil.copytree(ROOT / "s2mlib", source / "s2mlib", ignore=shutil.ignore_patterns("__pycache__"))
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check", "-q"]
    run([*pip, "wheel", "--no-deps", "--no-build-isolation", "--no-index", "-w", tmp_path / "dist", "."], source)
    (wheel,) = (tmp_path / "dist").glob("s2mlib-*.whl")
    assert wheel.name == f"s2mlib-{s2mlib.__version__}-py3-none-any.whl"
    site, work = tmp_path / "site", tmp_path / "work"
    run([*pip, "install", "--no-deps", "--no-index", "--target", site, wheel], tmp_path)
    work.mkdir()
    env = {k: v for k, v in os.environ.items() if k not in ("S2M_ROOT", "PYTHONPATH")}
    env.update(PYTHONPATH=str(site), OMP_NUM_THREADS="1")
    check = (
        "import importlib, pkgutil, s2mlib\n"
        "found = pkgutil.walk_packages(s2mlib.__path__, 's2mlib.')\n"
        "names = [m.name for m in found if not m.name.endswith('__main__')]\n"
        "modules = [importlib.import_module(name) for name in names]\n"
        "from s2mlib.gan.weights import weights_path\n"
        "print(s2mlib.__file__, len(modules), all(m.__file__.startswith(s2mlib.__path__[0]) for m in modules),"
        " weights_path('fast').is_file(), weights_path('fast').with_suffix('.md').is_file())\n"
    )
    where, count, inside, weights, card = run([sys.executable, "-c", check], work, env).split()
    assert Path(where).is_relative_to(site) and int(count) >= 45 and inside == weights == card == "True"
    assert run([site / "bin" / "s2m", "--version"], work, env).strip() == f"s2m {s2mlib.__version__}"
    out = work / "map.mrc"
    printed = run([sys.executable, "-m", "s2mlib.cli", "generate", MODEL, "-o", out.name, "--device", "cpu"], work, env)
    assert printed.startswith("map.mrc: grid ")

    from s2mlib.io.density import read_map

    density = read_map(out)
    assert min(density.shape_xyz) > 20 and density.data.max() > 0.1
    assert set(density.voxel_size.round(6)) == {1.0}


def test_the_public_api_is_listed_and_imported_on_first_use():
    """Every name of s2mlib.__all__ resolves (the lazy ones from their modules); import s2mlib alone loads neither
    torch nor pandas."""
    code = (
        "import sys, s2mlib; heavy = [m for m in ('torch', 'pandas', 's2mlib.gan.train') if m in sys.modules]; "
        "assert not heavy, heavy; from s2mlib.gan.generate import MapGenerator; assert s2mlib.MapGenerator is "
        "MapGenerator; assert all(getattr(s2mlib, name) is not None for name in s2mlib.__all__)"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT)
    assert set(s2mlib._LAZY) <= set(s2mlib.__all__) and len(set(s2mlib.__all__)) == len(s2mlib.__all__)
    with pytest.raises(AttributeError):
        s2mlib.no_such_name  # noqa: B018


def test_what_the_code_cites_is_in_the_repository():
    """Docstrings and tests cite the README's facts about the original code, not a file outside the repository."""
    files = subprocess.run(["git", "ls-files", "*.py", "*.md", "*.sh"], cwd=ROOT, capture_output=True, text=True)
    citing = [name for name in files.stdout.split() if "REFERENCE" + ".md" in (ROOT / name).read_text()]
    assert not citing, citing
    assert "## Facts about the original code" in (ROOT / "README.md").read_text()
