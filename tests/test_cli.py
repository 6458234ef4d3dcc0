"""The s2m entry point: commands listed, info on real files, one-line errors; evaluate --model / --per-residue,
confidence and generate --confidence on real pairs, checked against the s2mlib.metrics calls they wrap."""

import contextlib
import io
import json
import re

import numpy as np
import pytest
from helpers import pair

from s2mlib.cli import main

MODEL = "5925_3J6J"  # in ../shared/data, or the in-repo tiny set without it


def test_help_lists_commands(capsys):
    try:
        main(["--help"])
    except SystemExit:
        pass
    out = capsys.readouterr().out
    for command in ("info", "fetch", "evaluate", "confidence", "generate"):
        assert command in out


def test_info_map_json(capsys, shared_data):
    assert main(["info", str(shared_data / "maps_only/emd_11007.map.gz"), "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["shape_xyz"] == [240, 240, 240] and info["axis_order"] == [3, 2, 1]


def test_info_model_json(capsys):
    assert main(["info", str(pair(MODEL)["model_path"]), "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["atoms"] == 793 and info["chains"] == ["A"] and info["polymer_types"] == ["protein"]
    assert main(["info", str(pair(MODEL)["map_path"]), "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["shape_xyz"] == [71, 68, 68] and info["axis_order"] == [1, 2, 3]


def test_bad_input_is_one_line_with_status_2(capsys, tmp_path):
    bad = tmp_path / "broken.mrc"
    bad.write_text("not a map")
    assert main(["info", str(bad)]) == 2
    err = capsys.readouterr().err
    assert "broken.mrc" in err and "Traceback" not in err and len(err.strip().splitlines()) == 1


def test_version_is_the_package_version(capsys):
    import s2mlib

    with pytest.raises(SystemExit) as done:
        main(["--version"])
    assert done.value.code == 0 and capsys.readouterr().out.strip() == f"s2m {s2mlib.__version__}"


def test_a_bug_is_an_internal_error_with_status_1_and_its_traceback_behind_debug(monkeypatch, capsys):
    """Only the project's errors (and the file system's) are the user's: a ValueError from inside is a bug."""
    from s2mlib.cli import info

    def broken(args):
        raise ValueError("an index went wrong")

    monkeypatch.setattr(info, "run", broken)
    assert main(["info", "anything.mrc"]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err
    assert err.startswith("s2m info: internal error (ValueError: an index went wrong)") and "--debug" in err
    for argv in (["--debug", "info", "x.mrc"], ["info", "x.mrc", "--debug"]):
        assert main(argv) == 1
        err = capsys.readouterr().err
        assert "Traceback" in err and 'raise ValueError("an index went wrong")' in err


def test_user_errors_show_their_traceback_only_behind_debug(tmp_path, capsys):
    bad = tmp_path / "broken.mrc"
    bad.write_text("not a map")
    assert main(["info", str(bad), "--debug"]) == 2
    err = capsys.readouterr().err
    assert "Traceback" in err and err.strip().splitlines()[-1].startswith("s2m info: error: ")


def test_blurrer_without_tempy_is_one_line(monkeypatch, tmp_path, capsys):
    """A missing optional package (BioTEMPy) is the user's to install: one line saying how, status 2."""
    import sys

    for name in [m for m in sys.modules if m == "TEMPy" or m.startswith("TEMPy.")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "TEMPy", None)  # import TEMPy raises ImportError
    out = tmp_path / "sim.mrc"
    assert main(["simulate", str(pair(MODEL)["model_path"]), "-o", str(out), "--method", "blurrer"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "needs the package TEMPy" in err and "pip install --no-deps BioTEMPy" in err
    assert not out.exists()


def test_score_choices_are_the_library_scores():
    from s2mlib.cli.common import SCORES
    from s2mlib.metrics import RESIDUE_SCORES

    assert SCORES == tuple(RESIDUE_SCORES)


def test_curate_defaults_make_notebook_01s_expmap(tmp_path, capsys):
    """s2m curate without options and notebook 01 (curate_entry with the default profile's CurationConfig) write
    the same ExpMap of a real pair, clip_negative included (both follow CurationConfig: README, Decisions)."""
    from s2mlib.io.density import read_map
    from s2mlib.run.config import load_profile
    from s2mlib.study.curate import CurationConfig, curate_entry

    row = pair("2566_3J6B")
    config = CurationConfig.from_params(load_profile("default"))
    assert config.clip_negative and config.entry_stamp() == CurationConfig().entry_stamp()  # splits aside
    notebook = curate_entry(row["map_path"], row["model_path"], tmp_path / "nb.mrc", tmp_path / "sim.mrc", config)
    assert notebook["exp_map"], notebook["issues"]
    assert main(["curate", str(row["map_path"]), str(row["model_path"]), "-o", str(tmp_path / "cli.mrc")]) == 0
    cli, nb = read_map(tmp_path / "cli.mrc"), read_map(tmp_path / "nb.mrc")
    np.testing.assert_array_equal(cli.data, nb.data)
    np.testing.assert_array_equal(cli.origin, nb.origin)
    assert cli.data.min() == 0.0 and (cli.data == 0).mean() > 0.3  # the masked background stays 0
    assert (
        main(
            [
                "curate",
                str(row["map_path"]),
                str(row["model_path"]),
                "-o",
                str(tmp_path / "paper.mrc"),
                "--no-clip-negative",
            ]
        )
        == 0
    )
    assert not np.array_equal(read_map(tmp_path / "paper.mrc").data, cli.data)


def test_simulate_on_reference_grid(tmp_path, capsys):
    from s2mlib.io.density import read_map

    ref = pair(MODEL)["map_path"]
    out = tmp_path / "sim.mrc"
    assert (
        main(["simulate", str(pair(MODEL)["model_path"]), "-o", str(out), "--resolution", "3.6", "--ref-map", str(ref)])
        == 0
    )
    sim, exp = read_map(out), read_map(ref)
    assert sim.data.shape == exp.data.shape
    assert (sim.origin == exp.origin).all() and (sim.voxel_size == exp.voxel_size).all()
    assert sim.data.max() > 0


def test_simulate_rejects_bad_resolution(tmp_path, capsys):
    status = main(["simulate", str(pair(MODEL)["model_path"]), "-o", str(tmp_path / "x.mrc"), "--resolution", "-1"])
    assert status == 2 and "resolution" in capsys.readouterr().err
    assert not (tmp_path / "x.mrc").exists()


# ------------------------------------------------------- evaluate --model, --per-residue; confidence

PAPER_KEYS = {
    "ssim",
    "correlation",
    "correlation_about_mean",
    "pcc",
    "pearson_box",
    "contour_level",
    "n_contour_points",
    "masked_correlation",
    "masked_correlation_about_mean",
    "masked_pcc",
    "masked_ssim",
    "mask_voxels",
}
FIT_KEYS = [
    "resolution",
    "resolution_source",
    "cc_mask",
    "cc_box",
    "cc_volume",
    "cc_peaks",
    "mask_voxels",
    "fsc_0.5_resolution",
    "q_mean",
    "smoc_mean",
]


def strict_json(text: str):
    def refuse(name):
        raise AssertionError(f"{name} in JSON output")

    return json.loads(text, parse_constant=refuse)


def one_line_error(err: str, command: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"s2m {command}: error: ") and "Traceback" not in err, err
    return lines[0]


@pytest.fixture(scope="module")
def evaluated(tmp_path_factory, one_torch_thread):
    """s2m evaluate --model --json --per-residue (matched resolutions) of a 4 A molmap against 5925's map."""
    from s2mlib.io.atoms import read_structure
    from s2mlib.io.density import read_map, write_map
    from s2mlib.sim.simulate import molmap

    folder = tmp_path_factory.mktemp("evaluate")
    row = pair(MODEL)
    model, ref = read_structure(row["model_path"]), read_map(row["map_path"])
    scored = write_map(molmap(model, 4.0, ref_map=ref), folder / "sim.mrc")
    csv = folder / "residues.csv"
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        status = main(
            [
                "evaluate",
                str(scored),
                "--ref",
                str(row["map_path"]),
                "--model",
                str(row["model_path"]),
                "--json",
                "--per-residue",
                str(csv),
            ]
        )
    assert status == 0
    return {
        "json": out.getvalue(),
        "csv": csv,
        "map": read_map(scored),
        "ref": ref,
        "model": model,
        "map_path": scored,
        "folder": folder,
    }


def test_evaluate_with_model_json_has_every_key_and_is_strict(evaluated):
    """The paper's scores as before, plus model_fit of the map and of the reference at their matched resolutions,
    equal to s2mlib.metrics.field_scores called directly."""
    from s2mlib.metrics import field_scores

    scores = strict_json(evaluated["json"])
    assert PAPER_KEYS <= set(scores) and "undefined" not in scores
    fit = scores["model_fit"]
    assert fit["model"] == str(pair(MODEL)["model_path"]) and set(fit) == {"model", "map", "ref"}
    for name in ("map", "ref"):
        column = fit[name]
        assert list(column) == FIT_KEYS[:2] + ["matched_cc"] + FIT_KEYS[2:], column
        assert column["resolution_source"] == "matched" and 2.0 <= column["resolution"] <= 12.0
        expected = field_scores(evaluated[name], evaluated["model"], column["resolution"])
        assert {k: column[k] for k in expected} == pytest.approx(expected, rel=1e-9)
        assert 0.5 < column["matched_cc"] <= 1.0 and all(
            isinstance(column[k], float) for k in expected if k != "mask_voxels"
        )
    assert fit["map"]["cc_mask"] > fit["ref"]["cc_mask"]  # a molmap of the model fits it better than the data


def test_per_residue_csv_is_per_residue_scores_of_map_and_ref(evaluated):
    import pandas as pd

    from s2mlib.metrics import per_residue_scores

    fit = strict_json(evaluated["json"])["model_fit"]
    table = pd.read_csv(evaluated["csv"], keep_default_na=False, na_values=[""], dtype={"insertion_code": str})
    assert list(table.columns) == [
        "chain",
        "residue_number",
        "insertion_code",
        "residue_name",
        "q",
        "smoc",
        "q_ref",
        "smoc_ref",
    ]
    assert len(table) == evaluated["model"].n_residues == 97
    for name, suffix in (("map", ""), ("ref", "_ref")):
        expected = per_residue_scores(evaluated[name], evaluated["model"], fit[name]["resolution"])
        assert table["residue_number"].tolist() == expected["residue_number"].tolist()
        assert table["residue_name"].tolist() == expected["residue_name"].tolist()
        np.testing.assert_allclose(table["q" + suffix], expected["q"], rtol=1e-12)
        np.testing.assert_allclose(table["smoc" + suffix], expected["smoc"], rtol=1e-12)
        assert fit[name]["smoc_mean"] == pytest.approx(expected["smoc"].mean(), rel=1e-12)
    assert [p.name for p in evaluated["folder"].iterdir() if p.name.startswith(".")] == []  # no temporary file


def residue_b_factors(path) -> dict:
    """(chain, number, name) -> the B-factors of the residue's atoms, read back with gemmi."""
    import gemmi

    st = gemmi.read_structure(str(path))
    return {(ch.name, res.seqid.num, res.name): [a.b_iso for a in res] for ch in st[0] for res in ch}


def test_confidence_writes_the_csv_scores_as_per_residue_b_factors(evaluated, tmp_path, capsys):
    """Q (default) into a PDB (2 decimals), SMOC at the map's matched resolution into mmCIF: every atom of a
    residue carries its residue's score from the per-residue CSV."""
    import pandas as pd

    table = pd.read_csv(evaluated["csv"])
    model_path = str(pair(MODEL)["model_path"])
    resolution = strict_json(evaluated["json"])["model_fit"]["map"]["resolution"]
    runs = [
        ("conf.pdb", [], "q", 0.005),
        ("conf.cif", ["--score", "smoc", "--resolution", str(resolution)], "smoc", 1e-5),
    ]
    for name, options, column, tolerance in runs:
        out = tmp_path / name
        assert main(["confidence", str(evaluated["map_path"]), model_path, "-o", str(out), *options]) == 0
        printed = capsys.readouterr().out
        assert printed.startswith(f"{out}: ") and "97 of 97 residues scored" in printed and "0 without" in printed
        b = residue_b_factors(out)
        assert len(b) == len(table) == 97 and all(len(set(values)) == 1 for values in b.values())
        got = [b[("A", n, r)][0] for n, r in zip(table["residue_number"], table["residue_name"])]
        np.testing.assert_allclose(got, table[column], atol=tolerance)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["conf.cif", "conf.pdb"]


def test_scores_in_b_factors_sets_unscored_residues_to_zero():
    import pandas as pd

    from s2mlib.io.atoms import read_structure
    from s2mlib.metrics import scores_in_b_factors

    model = read_structure(pair(MODEL)["model_path"])
    table = pd.DataFrame(
        {
            "chain": ["A", "A", "A"],
            "residue_number": [1, 2, 3],
            "insertion_code": ["", "", ""],
            "residue_name": ["MET", "ALA", "XXX"],
            "q": [0.5, np.nan, 0.7],
        }
    )
    st, unscored = scores_in_b_factors(model, table, "q")
    residues = [res for res in st[0][0]]
    assert unscored == len(residues) - 1 and {a.b_iso for a in residues[0]} == {0.5}
    assert {a.b_iso for res in residues[1:] for a in res} == {0.0}  # NaN, a name that differs, absent rows
    assert model.gemmi_structure[0][0][0][0].b_iso != 0.5  # the model itself is unchanged


def test_evaluate_table_shows_map_and_ref_side_by_side(tmp_path, capsys):
    """On 2566_3J6B at a given resolution: the paper's lines, then one line per model-fit score with a map and a
    ref column; no NaN anywhere."""
    row = pair("2566_3J6B")
    assert (
        main(
            [
                "evaluate",
                str(row["map_path"]),
                "--ref",
                str(row["map_path"]),
                "--model",
                str(row["model_path"]),
                "--resolution",
                "3.2",
            ]
        )
        == 0
    )
    out = capsys.readouterr().out
    assert "nan" not in out.lower() and "resolution: given by --resolution" in out
    lines = {
        line.split(":")[0].strip(): line.split(":", 1)[1].split()
        for line in out.splitlines()
        if ":" in line and not line.startswith("model fit")
    }
    assert PAPER_KEYS <= set(lines) and lines["ssim"] == ["1.0000"]
    assert [line.split() for line in out.splitlines() if line.split() == ["map", "ref"]] == [["map", "ref"]]
    for key in FIT_KEYS:
        assert key in lines and len(lines[key]) == 2 and lines[key][0] == lines[key][1], key  # the same map twice
    assert lines["resolution"] == ["3.2000", "3.2000"] and lines["resolution_source"] == ["--resolution"] * 2


@pytest.mark.parametrize(
    "args, command, names",
    [
        (
            ["evaluate", "{map}", "--ref", "{map}", "--per-residue", "{tmp}/r.csv"],
            "evaluate",
            "--per-residue needs --model",
        ),
        (["evaluate", "{map}", "--ref", "{map}", "--resolution", "3"], "evaluate", "--resolution needs --model"),
        (
            ["evaluate", "{map}", "--ref", "{map}", "--model", "{model}", "--per-residue", "{tmp}/r.tsv"],
            "evaluate",
            "r.tsv: not a CSV file name",
        ),
        (["confidence", "{map}", "{model}", "-o", "{tmp}/c.txt"], "confidence", "c.txt: not a model file name"),
        (
            ["confidence", "{map}", "{model}", "-o", "{tmp}/c.pdb", "--score", "smoc", "--resolution", "-2"],
            "confidence",
            "--resolution must be a positive number",
        ),
        (
            ["generate", "{model}", "-o", "{tmp}/g.mrc", "--confidence", "{tmp}/c.mrc"],
            "generate",
            "c.mrc: not a model file name",
        ),
    ],
)
def test_model_fit_options_refused_in_one_line_before_any_work(tmp_path, capsys, args, command, names):
    row = pair(MODEL)
    argv = [a.format(map=row["map_path"], model=row["model_path"], tmp=tmp_path) for a in args]
    assert main(argv) == 2
    assert names in one_line_error(capsys.readouterr().err, command)
    assert list(tmp_path.iterdir()) == []


def test_generate_confidence_scores_the_generated_map(tmp_path, capsys, one_torch_thread):
    """s2m generate --confidence (a random width-2 generator): the model's B-factors are the residue Q-scores of
    the map written beside it."""
    import torch

    from s2mlib.gan.model import Generator
    from s2mlib.gan.weights import export_generator
    from s2mlib.io.atoms import read_structure
    from s2mlib.io.density import read_map
    from s2mlib.metrics import atom_qscores, residue_qscores

    torch.manual_seed(3)
    weights = export_generator(Generator(width=2), tmp_path / "tiny.pt")
    row = pair("2566_3J6B")
    out, confidence = tmp_path / "g.mrc", tmp_path / "g.cif"
    assert (
        main(
            [
                "generate",
                str(row["model_path"]),
                "-o",
                str(out),
                "--weights",
                str(weights),
                "--device",
                "cpu",
                "--confidence",
                str(confidence),
            ]
        )
        == 0
    )
    printed = capsys.readouterr().out.splitlines()
    assert printed[0].startswith(f"{out}: ") and printed[1].startswith(f"{confidence}: Q-score (mapq)")
    model = read_structure(row["model_path"])
    expected = residue_qscores(model, atom_qscores(read_map(out), model))
    b = residue_b_factors(confidence)
    assert all(len(set(values)) == 1 for values in b.values())
    got = [b[(c, n, r)][0] for c, n, r in zip(expected["chain"], expected["residue_number"], expected["residue_name"])]
    np.testing.assert_allclose(got, expected["q"].fillna(0.0), atol=1e-5)


@pytest.mark.parametrize(
    "command", ["curate", "confidence", "simulate", "evaluate", "generate", "generate --confidence"]
)
def test_an_output_that_is_an_input_is_refused_before_any_work(tmp_path, capsys, command):
    """The same path, or a symlink to an input: one line, status 2, the input unchanged (curate -o MAP used to
    replace the map, confidence -o MODEL the model's B-factors)."""
    import shutil

    p = pair(MODEL)
    map_path = shutil.copy(p["map_path"], tmp_path / p["map_path"].name)
    model = shutil.copy(p["model_path"], tmp_path / p["model_path"].name)
    link = tmp_path / ("link.csv" if command == "evaluate" else "link.mrc")
    link.symlink_to(model if command == "evaluate" else map_path)
    args = {
        "curate": ["curate", map_path, model, "-o", map_path],
        "confidence": ["confidence", map_path, model, "-o", model],
        "simulate": ["simulate", model, "--ref-map", map_path, "-o", link],
        "evaluate": ["evaluate", map_path, "--ref", map_path, "--model", model, "--per-residue", link],
        "generate": ["generate", model, "--ref-map", map_path, "-o", link],
        "generate --confidence": ["generate", model, "-o", tmp_path / "out.mrc", "--confidence", model],
    }[command]
    before = {path: open(path, "rb").read() for path in (map_path, model)}
    assert main([str(a) for a in args]) == 2
    line = one_line_error(capsys.readouterr().err, command.split()[0])
    assert "refusing to write over the input" in line
    assert before == {path: open(path, "rb").read() for path in (map_path, model)}


@pytest.mark.parametrize(
    "options, says",
    [
        (["--resolution", "0.01"], r"resolution must be within 0\.5-100 A, got 0\.01"),
        (["--resolution", "1e9"], r"resolution must be within 0\.5-100 A, got 1e\+09"),
        (["--method", "gemmi", "--resolution", "0.05"], r"resolution must be within 0\.5-100 A"),
        (
            ["--spacing", "0.001"],
            r"molmap on a \d+ x \d+ x \d+ grid of 0\.001 A voxels \(793 atoms\), 1 z-section at a time, needs "
            r"\d+\.\d GiB",
        ),
        (["--method", "e2pdb2mrc", "--spacing", "0.01"], r"e2pdb2mrc on a (\d+) x \1 x \1 grid of 0\.01 A voxels"),
    ],
)
def test_simulate_refuses_absurd_parameters_before_any_work(tmp_path, capsys, options, says):
    """Each asked tens of GiB to hundreds of TiB (an allocation traceback) or made 3e8 A voxels with status 0."""
    out = tmp_path / "x.mrc"
    assert main(["simulate", str(pair(MODEL)["model_path"]), "-o", str(out), *options]) == 2
    line = one_line_error(capsys.readouterr().err, "simulate")
    assert re.search(says, line), line
    assert not out.exists()


def test_a_constant_map_is_not_said_to_have_a_matched_resolution(tmp_path, capsys):
    from s2mlib.io.density import read_map, write_map

    p = pair(MODEL)
    ref = read_map(p["map_path"])
    flat = write_map(ref.copy(np.full(ref.data.shape, 0.5, np.float32)), tmp_path / "flat.mrc")
    assert main(["evaluate", str(flat), "--ref", str(p["map_path"]), "--model", str(p["model_path"]), "--json"]) == 0
    fit = strict_json(capsys.readouterr().out)["model_fit"]["map"]
    assert fit["matched_cc"] is None and "matched_cc" in fit["undefined"]
    assert fit["resolution_source"].startswith("nothing matched (the map is constant)")


def readme_commands() -> dict[str, str]:
    """The usage lines of README's 'The `s2m` command' block, per command (a line 's2m NAME ...' and the indented
    lines after it; comments after '#' on a command's own line left out)."""
    from helpers import ROOT

    section = (ROOT / "README.md").read_text().split("## The `s2m` command", 1)[1]
    block = section.split("```bash", 1)[1].split("```", 1)[0]
    lines: dict[str, list[str]] = {}
    command = None
    for line in block.splitlines():
        if line.startswith("s2m "):  # a command's first line ('s2m --version' belongs to none)
            found = re.match(r"s2m (\w+)", line)
            command = found.group(1) if found else None
            line = line.split("#")[0]
        if command and line.strip():
            lines.setdefault(command, []).append(line)
    return {name: "\n".join(text) for name, text in lines.items()}


def test_the_readme_shows_every_option_of_every_command():
    """Each command's options (as s2m COMMAND -h has them; -h and --debug aside) appear on its README lines, and the
    README shows no option the command lacks."""
    import argparse

    from s2mlib.cli import build_parser

    shown = readme_commands()
    parser = build_parser()
    commands = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction)).choices
    assert set(shown) == set(commands), (sorted(shown), sorted(commands))
    for name, command in commands.items():
        options = [a.option_strings for a in command._actions if a.option_strings and a.help != argparse.SUPPRESS]
        options = [o for o in options if not {"-h", "--debug"} & set(o)]
        missing = [o for o in options if not any(re.search(re.escape(s) + r"(?![\w-])", shown[name]) for s in o)]
        assert not missing, f"README's s2m {name} lines lack {missing}"
        known = {s for o in options for s in o}
        unknown = set(re.findall(r"(?<![\w-])(--?[a-z][\w-]*)", shown[name])) - known
        assert not unknown, f"README's s2m {name} lines show options s2m {name} -h lacks: {sorted(unknown)}"
