"""The package's layers (README "Layout"), read from the source with ast, every import counted (module-level,
function-level, under ``TYPE_CHECKING``):

- each module of ``s2mlib`` lies in one layer, and imports only from its own layer or the ones before it in
  :data:`LAYERS`; a violation names the file, the line and the rule;
- no module imports itself back through others (no import cycle among s2mlib's modules).

The facade ``s2mlib/__init__.py`` (the public names, imported on first use) stands above every layer: it may import
anything, and no module of the package imports it.
"""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "s2mlib"

# Earlier first; names in one tuple form one layer. A name is a top-level module (errors.py) or subpackage (io/).
LAYERS: tuple[tuple[str, ...], ...] = (
    ("errors", "version"),  # the exceptions and the version: nothing of ours
    ("io",),  # map and structure files, manifests, downloads, caches, atomic outputs, memory checks
    ("sim", "metrics"),  # simulators, the generator's input, map filters, the noise model; the scores
    ("gan",),  # networks, tiling, patches, training, weights, generation, batch
    ("study",),  # curation, the benchmark, the resolution and realism studies, ablation, spreads, plots, views
    ("run", "cli"),  # profiles, the notebooks' start(), the runner, provenance; the command line
)
RANK = {name: rank for rank, names in enumerate(LAYERS) for name in names}
FACADE = "s2mlib"


def module_name(path: Path, package: Path = PACKAGE) -> str:
    """``s2mlib/gan/train.py`` -> ``s2mlib.gan.train``; a package's ``__init__.py`` is the package."""
    parts = list(path.relative_to(package.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def modules(package: Path = PACKAGE) -> dict[str, Path]:
    """Every module of the package by name."""
    return {module_name(path, package): path for path in sorted(package.rglob("*.py"))}


def imports(path: Path, known: dict[str, Path], package_dir: Path = PACKAGE) -> list[tuple[int, str]]:
    """(line, module of ours) for every import in ``path``, once per line; ``from P import name`` counts as
    ``P.name`` when that is a module."""
    name = module_name(path, package_dir)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names if alias.name.split(".")[0] == FACADE]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            if target.split(".")[0] != FACADE:
                continue
            for alias in node.names:
                found.append((node.lineno, f"{target}.{alias.name}" if f"{target}.{alias.name}" in known else target))
    return sorted(set(found))


def layer(module: str) -> str | None:
    """The layer name of a module (its first part below the package), None for the facade."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else None


def violations(package: Path = PACKAGE) -> list[str]:
    """One line for each module outside the layers and for each import that runs to a later layer (or to the
    facade)."""
    known = modules(package)
    found = []
    for name, path in known.items():
        own = layer(name)
        if own is None:
            continue  # the facade
        where = path.relative_to(package.parent)
        if own not in RANK:
            found.append(f"{where}: module {name} lies in no layer (layers: {', '.join(map('/'.join, LAYERS))})")
            continue
        for line, target in imports(path, known, package):
            other = layer(target)
            if other is None:
                found.append(f"{where}:{line}: imports the facade {FACADE} (import the module that defines it)")
            elif other in RANK and RANK[other] > RANK[own]:
                found.append(
                    f"{where}:{line}: {name} (layer {'/'.join(LAYERS[RANK[own]])}) imports {target} from the later "
                    f"layer {'/'.join(LAYERS[RANK[other]])}: a module imports only its own layer or earlier ones"
                )
    return found


def cycles(package: Path = PACKAGE) -> list[list[str]]:
    """The import cycles among the package's modules (strongly connected components of more than one module, or a
    module importing itself), each sorted."""
    known = modules(package)
    graph = {
        name: sorted({t for _, t in imports(path, known, package) if t in known and t != FACADE})
        for name, path in known.items()
    }
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:  # Tarjan's algorithm
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in graph[node]:
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                top = stack.pop()
                on_stack.discard(top)
                component.append(top)
                if top == node:
                    break
            if len(component) > 1 or node in graph[node]:
                found.append(sorted(component))

    for node in graph:
        if node not in index:
            visit(node)
    return found


def test_no_import_runs_to_a_later_layer():
    found = violations()
    assert not found, f"{len(found)} import(s) against the layers:\n" + "\n".join(found)


def test_no_import_cycle():
    found = cycles()
    assert not found, "import cycles:\n" + "\n".join(" -> ".join(c) for c in found)


def test_the_checks_see_what_they_check(tmp_path):
    """The checker on a hand-made package: an upward import inside a function, a module outside the layers, a
    relative import of the facade and a cycle are each found; legal imports are not."""
    root = tmp_path / "s2mlib"
    for folder in ("io", "gan", "cli"):
        (root / folder).mkdir(parents=True)
        (root / folder / "__init__.py").write_text("")
    (root / "__init__.py").write_text("from .io.files import read\n")
    (root / "errors.py").write_text("")
    (root / "helpers.py").write_text("")
    (root / "io" / "files.py").write_text("from ..errors import E\n\ndef read():\n    from ..gan import net\n")
    (root / "io" / "other.py").write_text("from .. import __version__\nfrom . import files\n")
    (root / "gan" / "net.py").write_text("from ..errors import E\nfrom s2mlib.gan import loop\n")
    (root / "gan" / "loop.py").write_text("import s2mlib.gan.net\n")
    (root / "cli" / "main.py").write_text("from ..gan.net import x\nfrom ..io import files\n")
    found = violations(root)
    assert len(found) == 3, found
    assert found[0] == "s2mlib/helpers.py: module s2mlib.helpers lies in no layer (layers: errors/version, io, " + (
        "sim/metrics, gan, study, run/cli)"
    )
    assert found[1].startswith("s2mlib/io/files.py:4: s2mlib.io.files (layer io) imports s2mlib.gan.net from the")
    assert found[2].startswith("s2mlib/io/other.py:1: imports the facade s2mlib")
    assert cycles(root) == [["s2mlib.gan.loop", "s2mlib.gan.net"]]
