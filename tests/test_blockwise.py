"""Big models made block by block (issue 19): simulation and the generator's input in slabs of z-sections, the same
maps as on the whole grid, and ``s2m simulate`` / ``s2m generate`` taking that path when the whole grid would not fit
(forced here with a small slab or a zero whole-grid budget; the 2-million-atom figures are in
benchmarks/bench_big_model.py)."""

from __future__ import annotations

import re

import mrcfile
import numpy as np
import pytest
from helpers import pair

from s2mlib.cli import main
from s2mlib.gan.generate import MapGenerator, generator_input
from s2mlib.io.atoms import read_structure
from s2mlib.io.density import read_map, write_map, write_map_slabs
from s2mlib.sim.simulate import simulate, simulate_slabs

ENTRY = "2566_3J6B"  # 2,865 atoms, with its map; cut here into slabs of 5-9 z-sections
SMALL = "5925_3J6J"  # 793 atoms: a 43 x 40 x 39 generator grid (8 cubes); e2pdb2mrc's box around (0, 0, 0) is small

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def structure():
    return read_structure(pair(ENTRY)["model_path"])


@pytest.fixture(scope="module")
def small():
    return read_structure(pair(SMALL)["model_path"])


@pytest.mark.parametrize("method, resolution", [("molmap", 2.0), ("e2pdb2mrc", 3.0), ("gemmi", 3.0)])
def test_simulation_in_slabs_is_the_whole_grid(structure, small, method, resolution):
    """Every slab sums the atoms near it in the whole grid's order: the same float32 sums."""
    structure = small if method == "e2pdb2mrc" else structure
    whole = simulate(structure, method, resolution)
    grid, parts = simulate_slabs(structure, method, resolution, sections=7)
    assert (grid.shape_xyz, grid.origin.tolist()) == (whole.shape_xyz, whole.origin.tolist())
    np.testing.assert_allclose(np.concatenate(list(parts)), whole.data, rtol=0, atol=1e-6 * whole.data.max())


def test_simulation_in_slabs_on_a_reference_grid(structure):
    ref = read_map(pair(ENTRY)["map_path"])
    whole = simulate(structure, "gemmi", 4.0, ref_map=ref)
    grid, parts = simulate_slabs(structure, "gemmi", 4.0, ref_map=ref, sections=5)
    np.testing.assert_allclose(np.concatenate(list(parts)), whole.data, rtol=0, atol=1e-6 * whole.data.max())


@pytest.mark.parametrize("kind, resolution", [("molmap", None), ("bfactor", 4.0), ("bfactor", 9.0)])
def test_generator_input_in_slabs_is_the_whole_grid(structure, kind, resolution):
    """molmap: identical; the B-factor input's blur is kept in float32 before the min-max (1 ulp)."""
    whole = generator_input(structure, kind, resolution)
    slabbed = generator_input(structure, kind, resolution, sections=7)
    assert (slabbed.shape_xyz, slabbed.origin.tolist()) == (whole.shape_xyz, whole.origin.tolist())
    np.testing.assert_allclose(slabbed.data, whole.data, rtol=0, atol=1e-6)


def test_generated_map_from_the_slab_input_is_the_whole_grids(small):
    generator = MapGenerator("fast", device="cpu", progress=False)
    whole = generator(small, resolution=5.0).data
    slabbed = generator.refine(generator_input(small, "bfactor", 5.0, sections=7).data, 5.0)
    np.testing.assert_allclose(slabbed, whole, rtol=0, atol=1e-6)
    assert np.ptp(whole) > 0.1


@pytest.mark.parametrize("name", ["sim.mrc", "sim.mrc.gz"])
def test_a_map_written_slab_by_slab_is_write_maps(tmp_path, structure, name):
    whole = simulate(structure, "molmap", 2.0)
    grid, parts = simulate_slabs(structure, "molmap", 2.0, sections=9)
    write_map(whole, tmp_path / f"whole_{name}")
    write_map_slabs(grid, parts, tmp_path / name)
    with mrcfile.open(tmp_path / f"whole_{name}") as a, mrcfile.open(tmp_path / name) as b:
        stats = ["dmin", "dmax", "dmean", "rms"]  # mrcfile's rms is summed in float32, ours in float64
        np.testing.assert_allclose([b.header[f] for f in stats], [a.header[f] for f in stats], rtol=1e-6)
        first, second = a.header.copy(), b.header.copy()
        for header in (first, second):
            header[stats] = 0
        assert first.tobytes() == second.tobytes()
        np.testing.assert_array_equal(a.data, b.data)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([name, f"whole_{name}"])  # no temporary left


def grid_budget(monkeypatch, grids: float, shape) -> None:
    """No grid is made whole, and the memory available is ``grids`` float32 grids of ``shape``."""
    monkeypatch.setattr("s2mlib.sim.simulate.WHOLE_GRID_BYTES", 0)
    monkeypatch.setattr("s2mlib.gan.generate.WHOLE_GRID_BYTES", 0)
    monkeypatch.setattr("s2mlib.io.memory.available_bytes", lambda: int(grids * 4 * np.prod(shape)))


def test_s2m_simulate_writes_a_grid_too_big_for_memory_slab_by_slab(tmp_path, monkeypatch, capsys):
    """Available: 1.5 grids; molmap's whole grid needs 2 and was refused. Now the same map, in slabs."""
    model = pair(SMALL)["model_path"]
    whole = simulate(read_structure(model), "molmap", 2.0)
    grid_budget(monkeypatch, 1.5, whole.data.shape)
    monkeypatch.setattr("s2mlib.sim.simulate.SLAB_BYTES", 4 * whole.data[0].size * 8)  # slabs of 8 sections
    assert main(["simulate", str(model), "-o", str(tmp_path / "sim.mrc")]) == 0
    assert f"grid {whole.shape_xyz}" in capsys.readouterr().out
    monkeypatch.undo()
    np.testing.assert_array_equal(read_map(tmp_path / "sim.mrc").data, whole.data)


def test_s2m_simulate_refuses_what_does_not_fit_on_disk_slab_by_slab(tmp_path, monkeypatch, capsys):
    model = pair(SMALL)["model_path"]
    monkeypatch.setattr("s2mlib.sim.simulate.WHOLE_GRID_BYTES", 0)
    monkeypatch.setattr("shutil.disk_usage", lambda folder: type("Usage", (), {"free": 10**6})())
    assert main(["simulate", str(model), "-o", str(tmp_path / "sim.mrc")]) == 2
    line = capsys.readouterr().err.strip()
    assert re.fullmatch(
        r"s2m simulate: error: \S+: molmap on a 74 x 68 x 68 grid of 0\.666667 A voxels \(793 atoms\), written slab by "
        r"slab, needs 0\.0 GiB of disk in \S+; 0\.0 GiB is free",
        line,
    ), line
    assert not list(tmp_path.iterdir())


def test_s2m_generate_makes_a_grid_too_big_for_memory_from_slabs(tmp_path, monkeypatch, capsys):
    """Available: 5 grids; the whole-grid input needs 11 and was refused in one line. Now it generates, the same map
    to 1e-6 as on the whole grid."""
    model = str(pair(SMALL)["model_path"])
    assert main(["generate", model, "-o", str(tmp_path / "whole.mrc"), "--resolution", "5"]) == 0
    whole = read_map(tmp_path / "whole.mrc")
    grid_budget(monkeypatch, 5, whole.data.shape)
    monkeypatch.setattr("s2mlib.sim.simulate.SLAB_BYTES", 4 * whole.data[0].size * 7)
    assert main(["generate", model, "-o", str(tmp_path / "slabs.mrc"), "--resolution", "5"]) == 0
    monkeypatch.undo()
    np.testing.assert_allclose(read_map(tmp_path / "slabs.mrc").data, whole.data, rtol=0, atol=1e-6)
    capsys.readouterr()
