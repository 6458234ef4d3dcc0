"""Tests of s2mlib.gan.generate: cube tiling and reassembly through the whole pipeline, empty-cube skipping, the output
grid, the network input, the memory guard, weights loading and the ``s2m generate`` command (real models)."""

from __future__ import annotations

import math
import re

import numpy as np
import pytest
import torch
from helpers import pair

from s2mlib.cli import main
from s2mlib.errors import S2MError
from s2mlib.gan.generate import MapGenerator, generate_entries, generator_input, refine
from s2mlib.gan.model import Generator
from s2mlib.gan.weights import DEFAULT_WEIGHTS, FAST_WEIGHTS, SHIPPED_WEIGHTS, export_generator
from s2mlib.io.atoms import read_structure
from s2mlib.io.density import DensityMap, read_map
from s2mlib.sim.simulate import molmap

ENTRY = "2566_3J6B"  # 2,865 atoms: a 43 x 67 x 60 input grid, 36 cubes of which 6 are all zero


pytestmark = pytest.mark.usefixtures("one_torch_thread")


class Identity(torch.nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.clone()


class AddBias(torch.nn.Module):
    """x + 0.5: maps an all-zero cube to 0.5, so skipping it shows."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + 0.5


@pytest.fixture(scope="module")
def structure():
    return read_structure(pair(ENTRY)["model_path"])


@pytest.fixture(scope="module")
def tiny_weights(tmp_path_factory):
    """A random width-2 generator exported as a shipped-weights file would be."""
    torch.manual_seed(3)
    return export_generator(Generator(width=2), tmp_path_factory.mktemp("weights") / "tiny.pt")


def with_network(weights, network: torch.nn.Module, **kwargs) -> MapGenerator:
    gen = MapGenerator(weights, device="cpu", progress=False, **kwargs)
    gen.network = network
    return gen


def test_generator_input_is_minmax_of_molmap_at_2A(structure):
    inp = generator_input(structure)
    lo, hi = structure.xyz.min(axis=0), structure.xyz.max(axis=0)
    # the grid by hand: bounding box - 3 A, 1 A voxels, ceil((max - min + 6) / 1) voxels per axis
    np.testing.assert_allclose(inp.origin, lo - 3.0)
    np.testing.assert_allclose(inp.voxel_size, 1.0)
    assert inp.shape_xyz == tuple(int(math.ceil(high - low + 6.0)) for low, high in zip(lo, hi))
    sim = molmap(structure, 2.0, ref_map=DensityMap(np.zeros(inp.data.shape), lo - 3.0, 1.0)).data.astype(np.float64)
    np.testing.assert_allclose(inp.data, (sim - sim.min()) / (sim.max() - sim.min()), atol=1e-6)
    assert inp.data.min() == 0.0 and inp.data.max() == pytest.approx(1.0)


def test_identity_network_reproduces_the_input_exactly(structure, tiny_weights):
    expected = generator_input(structure)
    for skip in (True, False):  # the identity maps zeros to zeros: skipping empty cubes changes nothing
        result = with_network(tiny_weights, Identity(), skip_empty=skip)(structure)
        assert np.array_equal(result.data, expected.data)
        np.testing.assert_array_equal(result.origin, expected.origin)
        np.testing.assert_array_equal(result.voxel_size, [1.0, 1.0, 1.0])


def test_identity_refine_on_odd_shapes():
    rng = np.random.default_rng(0)
    for shape in ((1, 1, 1), (19, 21, 40), (41, 7, 33)):
        array = rng.random(shape, dtype=np.float32)
        assert np.array_equal(refine(Identity(), array, batch_size=5), array)


def test_skip_empty_differs_only_in_empty_cubes(structure, tiny_weights):
    inp = generator_input(structure).data
    skipped = with_network(tiny_weights, AddBias(), skip_empty=True)(structure).data
    every = with_network(tiny_weights, AddBias(), skip_empty=False)(structure).data
    np.testing.assert_allclose(every, inp + 0.5, atol=1e-6)
    # oracle: voxel v belongs to the cube whose centre holds it, cube k = v // 20 per axis, whose input is the
    # map region [20 k - 6, 20 k + 26) per axis; that cube is empty when this region holds only zeros
    empty_voxels = np.zeros(inp.shape, dtype=bool)
    n_empty = 0
    for k in np.ndindex(*(math.ceil(n / 20) for n in inp.shape)):
        region = tuple(slice(max(20 * a - 6, 0), 20 * a + 26) for a in k)
        if not inp[region].any():
            n_empty += 1
            empty_voxels[tuple(slice(20 * a, 20 * a + 20) for a in k)] = True
    assert n_empty == 6
    assert np.all(skipped[empty_voxels] == 0.0)
    np.testing.assert_array_equal(skipped[~empty_voxels], every[~empty_voxels])


def test_result_lies_on_the_reference_grid(structure, tiny_weights):
    from scipy.ndimage import map_coordinates

    ref = read_map(pair(ENTRY)["map_path"])  # 1.34 A voxels, its own origin
    result = with_network(tiny_weights, Identity())(structure, ref_map=ref)
    assert result.data.shape == ref.data.shape
    np.testing.assert_allclose(result.origin, ref.origin)
    np.testing.assert_allclose(result.voxel_size, ref.voxel_size)
    inp = generator_input(structure)
    zyx = np.stack(np.meshgrid(*[np.arange(n) for n in ref.data.shape], indexing="ij"), axis=0).reshape(3, -1)
    world = ref.origin[::-1, None] + zyx * ref.voxel_size[::-1, None]  # z, y, x in A
    frac = (world - inp.origin[::-1, None]) / inp.voxel_size[::-1, None]
    expected = map_coordinates(inp.data, frac, order=1, mode="constant", cval=0.0).reshape(ref.data.shape)
    np.testing.assert_allclose(result.data, expected, atol=1e-5)
    assert result.data.max() > 0.5


def test_batch_size_does_not_change_the_map(structure, tiny_weights):
    one = MapGenerator(tiny_weights, device="cpu", batch_size=1, progress=False)(structure).data
    seven = MapGenerator(tiny_weights, device="cpu", batch_size=7, progress=False)(structure).data
    np.testing.assert_allclose(one, seven, rtol=0, atol=1e-6)
    assert np.ptp(one) > 0


def test_memory_guard_names_the_file(structure, monkeypatch):
    monkeypatch.setattr("s2mlib.io.memory.available_bytes", lambda: 1000)
    with pytest.raises(S2MError, match=str(structure.path).replace(".", r"\.")) as err:
        generator_input(structure)
    assert re.search(
        r"grid at 1 A \(2865 atoms; .*\) needs \d+\.\d GiB of memory; 0\.0 GiB is available", str(err.value)
    )


def test_bad_weights_files(tmp_path):
    missing = tmp_path / "absent.pt"
    with pytest.raises(S2MError, match="absent.pt"):
        MapGenerator(missing, device="cpu")
    corrupt = tmp_path / "corrupt.pt"
    corrupt.write_bytes(np.random.default_rng(1).bytes(4096))
    with pytest.raises(S2MError, match="corrupt.pt"):
        MapGenerator(corrupt, device="cpu")
    foreign = tmp_path / "foreign.pt"
    torch.save({"weights": torch.zeros(3)}, foreign)
    with pytest.raises(S2MError, match="not a struc2map generator"):
        MapGenerator(foreign, device="cpu")
    with pytest.raises(ValueError, match="batch size"):
        MapGenerator(missing, device="cpu", batch_size=0)


def test_s2m_generate_writes_a_readable_map(tmp_path, tiny_weights, structure, capsys):
    out = tmp_path / "generated.mrc"
    rc = main(
        [
            "generate",
            str(pair(ENTRY)["model_path"]),
            "-o",
            str(out),
            "--weights",
            str(tiny_weights),
            "--device",
            "cpu",
            "--batch-size",
            "8",
        ]
    )
    assert rc == 0
    density = read_map(out)
    expected = MapGenerator(tiny_weights, device="cpu", progress=False)(structure)
    assert density.data.shape == expected.data.shape
    np.testing.assert_allclose(density.origin, expected.origin, atol=1e-4)
    np.testing.assert_allclose(density.data, expected.data, atol=1e-6)
    assert str(out) in capsys.readouterr().out


@pytest.mark.parametrize("name, path, width", [("shipped", SHIPPED_WEIGHTS, 32), ("fast", FAST_WEIGHTS, 8)])
def test_shipped_weights_refine_a_real_model(name, path, width):
    """Both shipped generators load by name (the paper's network; the conditioned one on the B-factor input) and
    give a finite, non-flat map (at two resolutions, different, for the conditioned one)."""
    gen = MapGenerator(name, device="cpu", progress=False)
    assert gen.weights == path and gen.network.width == width
    assert isinstance(gen.network, Generator) and not gen.network.training
    assert (gen.conditioned, gen.input_kind) == ((True, "bfactor") if name == "fast" else (False, "molmap"))
    structure = read_structure(pair("20353_6PJ6")["model_path"])  # 8 cubes
    out = gen(structure).data
    assert out.shape == generator_input(structure).data.shape and np.all(np.isfinite(out)) and np.ptp(out) > 0
    if gen.uses_resolution:
        assert np.abs(gen(structure, resolution=8.0).data - gen(structure, resolution=3.0).data).max() > 0.01


def test_default_weights_are_the_conditioned_fast_ones():
    gen = MapGenerator(device="cpu", progress=False)
    assert gen.weights == DEFAULT_WEIGHTS == FAST_WEIGHTS and gen.uses_resolution


# ------------------------------------------------------------------ maps at a chosen resolution


@pytest.fixture(scope="module")
def conditioned_weights(tmp_path_factory):
    """A width-2 conditioned generator whose FiLM heads are non-zero (as after training), exported."""
    torch.manual_seed(5)
    network = Generator(width=2, conditioned=True)
    with torch.no_grad():
        for block in network.nodes.values():
            block.film.weight.normal_(0, 0.2)
    return export_generator(network, tmp_path_factory.mktemp("weights") / "conditioned.pt")


def test_conditioned_weights_make_a_different_map_at_each_resolution(structure, conditioned_weights):
    gen = MapGenerator(conditioned_weights, device="cpu", progress=False)
    assert gen.uses_resolution and gen.network.conditioned
    at3, at8 = gen(structure, resolution=3.0), gen(structure, resolution=8.0)
    assert gen.last_resolution == 8.0 and np.abs(at3.data - at8.data).max() > 1e-3
    default = gen(structure)
    assert gen.last_resolution == 3.5  # the stated default
    fixed = MapGenerator(conditioned_weights, device="cpu", progress=False, resolution=8.0)
    np.testing.assert_array_equal(fixed(structure).data, at8.data)
    np.testing.assert_array_equal(default.data, gen(structure, resolution=3.5).data)


def test_a_resolution_asked_of_the_papers_weights_is_a_clear_error(structure, tiny_weights, tmp_path, capsys):
    with pytest.raises(S2MError, match="not resolution-conditioned"):
        MapGenerator(tiny_weights, device="cpu", progress=False, resolution=4.0)
    with pytest.raises(S2MError, match="not resolution-conditioned"):
        MapGenerator(tiny_weights, device="cpu", progress=False)(structure, resolution=4.0)
    rc = main(
        [
            "generate",
            str(pair(ENTRY)["model_path"]),
            "-o",
            str(tmp_path / "x.mrc"),
            "--weights",
            str(tiny_weights),
            "--resolution",
            "4",
            "--device",
            "cpu",
        ]
    )
    err = capsys.readouterr().err
    assert rc == 2 and "not resolution-conditioned" in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "x.mrc").exists()


def test_s2m_generate_at_a_resolution(tmp_path, conditioned_weights, structure, capsys):
    out = tmp_path / "g.mrc"
    assert (
        main(
            [
                "generate",
                str(pair(ENTRY)["model_path"]),
                "-o",
                str(out),
                "--weights",
                str(conditioned_weights),
                "--resolution",
                "6.5",
                "--device",
                "cpu",
            ]
        )
        == 0
    )
    assert "at 6.5 A" in capsys.readouterr().out
    expected = MapGenerator(conditioned_weights, device="cpu", progress=False)(structure, resolution=6.5)
    np.testing.assert_allclose(read_map(out).data, expected.data, atol=1e-6)


def test_s2m_generate_takes_the_resolution_the_ref_maps_emdb_header_reports(tmp_path, conditioned_weights, structure):
    """Without --resolution, a --ref-map laid out as EMDB (and the fetch cache) lays it out, EMD-XXXX/map/ beside
    EMD-XXXX/header/emd-XXXX-v30.xml, is generated at the header's resolution; without a header, at 3.5 A."""
    import shutil

    root = tmp_path / "EMD-2566"
    (root / "map").mkdir(parents=True)
    (root / "header").mkdir()
    ref = root / "map" / "emd_2566.map.gz"
    shutil.copy(pair(ENTRY)["map_path"], ref)
    (root / "header" / "emd-2566-v30.xml").write_text(
        "<emd><structure_determination_list><structure_determination><single_particle_processing>"
        "<final_reconstruction><resolution res_type='BY AUTHOR'>6.6</resolution></final_reconstruction>"
        "</single_particle_processing></structure_determination></structure_determination_list></emd>"
    )
    argv = ["generate", str(pair(ENTRY)["model_path"]), "--weights", str(conditioned_weights), "--device", "cpu"]
    assert main([*argv, "-o", str(tmp_path / "header.mrc"), "--ref-map", str(ref)]) == 0
    generator = MapGenerator(conditioned_weights, device="cpu", progress=False)
    expected = generator(structure, ref_map=read_map(ref), resolution=6.6)
    np.testing.assert_allclose(read_map(tmp_path / "header.mrc").data, expected.data, atol=1e-6)
    (root / "header" / "emd-2566-v30.xml").unlink()
    assert main([*argv, "-o", str(tmp_path / "default.mrc"), "--ref-map", str(ref)]) == 0
    expected = generator(structure, ref_map=read_map(ref), resolution=3.5)
    np.testing.assert_allclose(read_map(tmp_path / "default.mrc").data, expected.data, atol=1e-6)


def test_generate_entries_uses_each_entrys_reported_resolution(tmp_path, conditioned_weights):
    import pandas as pd

    from s2mlib.study.curate import curate_exp_map

    rows = []
    for entry, resolution in (("2566_3J6B", 3.2), ("5925_3J6J", float("nan"))):
        p = pair(entry)
        exp = curate_exp_map(read_map(p["map_path"]), read_structure(p["model_path"]))
        from s2mlib.io.density import write_map

        rows.append(
            {
                "entry": entry,
                "resolution": resolution,
                "model": str(p["model_path"]),
                "exp_map": str(write_map(exp, tmp_path / f"{entry}_exp.mrc")),
            }
        )
    gen = MapGenerator(conditioned_weights, device="cpu", progress=False)
    table = generate_entries(gen, pd.DataFrame(rows), tmp_path / "out", default_resolution=4.0)
    assert table["resolution"].tolist() == [3.2, 4.0]
    again = generate_entries(gen, pd.DataFrame(rows), tmp_path / "out6", resolution=6.0)
    assert again["resolution"].tolist() == [6.0, 6.0]
    plain = generate_entries(
        MapGenerator(network_free_weights(tmp_path), device="cpu", progress=False),
        pd.DataFrame(rows),
        tmp_path / "plain",
    )
    assert plain["resolution"].isna().all()


def network_free_weights(tmp_path):
    return export_generator(Generator(width=2), tmp_path / "plain.pt")


def test_generate_entries_refuses_an_unsafe_entry_name_before_any_work(tmp_path):
    import pandas as pd

    from s2mlib.errors import ManifestError

    entries = pd.DataFrame([{"entry": "../../ESCAPED", "model": "m.cif", "exp_map": "e.mrc"}])
    with pytest.raises(ManifestError, match=r"'\.\./\.\./ESCAPED' is not a safe file name"):
        generate_entries(object(), entries, tmp_path / "out")
    assert not any(tmp_path.parent.glob("ESCAPED*"))


def test_model_outside_the_reference_map_is_refused_before_the_work(structure, tiny_weights):
    """It gave an all-zero map with exit 0 (simulate refused the same input)."""
    far = DensityMap(np.zeros((20, 20, 20), np.float32), origin=structure.xyz.max(axis=0) + 500.0)
    gen = MapGenerator(tiny_weights, device="cpu", progress=False)
    gen.network = None  # reaching the network would be a TypeError
    with pytest.raises(ValueError, match=r"none of the 2865 atoms lies inside the reference map grid"):
        gen(structure, ref_map=far)


def test_resolution_below_the_grids_nyquist_is_refused_and_beyond_training_is_said(conditioned_weights):
    gen = MapGenerator(conditioned_weights, device="cpu", progress=False)
    with pytest.raises(S2MError, match=r"resolution 0\.5 A is finer than the network's 1 A grid can hold"):
        gen._checked(0.5)
    with pytest.warns(UserWarning, match=r"resolution 50 A is beyond the 10 A the weights were trained up to"):
        assert gen._checked(50) == 50.0


def test_sample_entries_write_the_sample_and_its_half_maps(tmp_path):
    """Each expected map of a generate_entries table gets <entry>_sample.mrc (= quality_sample of the expected map
    with the seed and quality) and EMDB-named half maps; a row without a resolution (the paper's weights) is left
    out."""
    import pandas as pd

    from s2mlib.gan.generate import SAMPLE, sample_entries
    from s2mlib.io.density import write_map
    from s2mlib.sim.quality import quality_sample

    expected = read_map(pair(ENTRY)["map_path"])
    path = write_map(expected, tmp_path / "e.mrc")
    generated = pd.DataFrame(
        [
            {"entry": ENTRY, "path": str(path), "resolution": 4.0},
            {"entry": "paper", "path": str(path), "resolution": np.nan},
        ]
    )
    entries = pd.DataFrame([{"entry": ENTRY, "model": str(pair(ENTRY)["model_path"])}])
    samples = sample_entries(generated, entries, tmp_path, seed=6, quality=30)
    assert samples["entry"].tolist() == [ENTRY] and samples["method"].tolist() == [SAMPLE]
    row = samples.iloc[0]
    want = quality_sample(expected, read_structure(pair(ENTRY)["model_path"]), 4.0, 6, quality=30)
    assert (row.envelope_b, row.target_q, row.sample_q) == (want.envelope_b, want.target_q, want.sample_q)
    np.testing.assert_allclose(read_map(row.path).data, want.full.data, atol=1e-6)
    np.testing.assert_allclose(read_map(row.half_map_1).data, want.half_1.data, atol=1e-6)
    assert row.path.endswith(f"{ENTRY}_sample.mrc") and row.half_map_2.endswith(f"{ENTRY}_sample_half_map_2.mrc")
