"""The writer of generated maps: each file's name (a model's map, EMDB's names for its half maps beside it), whether
a map is there whole, and the writing of a map with its half maps, each file whole or absent
(:func:`s2mlib.io.density.write_map`).

The plan of a batch (:func:`s2mlib.gan.batch.plan`) checks these names before any work, the loop skips what is
whole and writes through :func:`write_maps`; the noise model (:mod:`s2mlib.sim.noise`) hands over maps and names no
file.
"""

from __future__ import annotations

import gzip
import os
import struct
from pathlib import Path

from ..io.density import MRC_HEADER, DensityMap, mrc_declared_size, write_map

MODEL_SUFFIXES = (".pdb", ".ent", ".cif", ".mmcif")


def output_name(model: str | os.PathLike) -> str:
    """The map file name of a model: its name without ``.gz`` and the model extension, + ``.mrc``.

    >>> output_name("models/AF-P69905-F1-model_v4.cif.gz")
    'AF-P69905-F1-model_v4.mrc'
    """
    name = Path(model).name
    name = name[:-3] if name.lower().endswith(".gz") else name
    stem, dot, suffix = name.rpartition(".")
    return f"{stem if dot and f'.{suffix.lower()}' in MODEL_SUFFIXES else name}.mrc"


def half_map_paths(output: str | os.PathLike) -> tuple[Path, Path]:
    """EMDB's names for the half maps of ``output``: ``OUT_half_map_1.mrc`` and ``OUT_half_map_2.mrc`` beside it,
    with its suffix and compression.

    >>> [p.name for p in half_map_paths("maps/emd.map.gz")]
    ['emd_half_map_1.map.gz', 'emd_half_map_2.map.gz']
    """
    output = Path(output)
    name = output.name
    compressed = ".gz" if name.lower().endswith(".gz") else ""
    stem = name[: len(name) - len(compressed)]
    base, dot, suffix = stem.rpartition(".")
    base, suffix = (base, dot + suffix) if dot else (stem, "")
    return tuple(output.with_name(f"{base}_half_map_{i}{suffix}{compressed}") for i in (1, 2))  # type: ignore[return-value]


def map_paths(output: str | os.PathLike, half_maps: bool = False) -> list[Path]:
    """The files one generated map makes: ``output``, then with ``half_maps`` its half maps (:func:`half_map_paths`).

    >>> [p.name for p in map_paths("maps/a.mrc", half_maps=True)]
    ['a.mrc', 'a_half_map_1.mrc', 'a_half_map_2.mrc']
    """
    return [Path(output), *(half_map_paths(output) if half_maps else ())]


def is_whole(path: str | os.PathLike) -> bool:
    """True when ``path`` is an MRC map (optionally gzip) holding the bytes its header declares (reads ~1 KiB)."""
    path = Path(path)
    try:
        with open(path, "rb") as fh:
            gz = fh.read(2) == b"\x1f\x8b"
            if gz:
                fh.seek(-4, os.SEEK_END)
                size = struct.unpack("<I", fh.read(4))[0]
        if gz:
            with gzip.open(path, "rb") as fh:
                return mrc_declared_size(fh.read(MRC_HEADER)) % 2**32 == size
        with open(path, "rb") as fh:
            return mrc_declared_size(fh.read(MRC_HEADER)) == path.stat().st_size
    except (OSError, EOFError, ValueError, struct.error):
        return False


def write_maps(
    output: str | os.PathLike, density: DensityMap, halves: tuple[DensityMap, DensityMap] | None = None
) -> list[Path]:
    """Write ``density`` to ``output`` and, when given, the two ``halves`` beside it (:func:`half_map_paths`), half
    maps first; each file whole or absent (:func:`s2mlib.io.density.write_map`). Returns the paths written, half
    maps first."""
    written = []
    if halves is not None:
        for half, path in zip(halves, half_map_paths(output)):
            written.append(write_map(half, path))
    written.append(write_map(density, output))
    return written
