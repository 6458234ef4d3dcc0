"""Reference values of Phenix's five_cc (cctbx mmtbx.maps.correlation) for tests/test_metrics_phenix.py.

cctbx-base (about 700 MB) is not part of the project environment; it lives in a separate virtual environment
outside the repository, and this script's reference values are committed in tests/data/oracles/phenix_five_cc.json.
Two steps, two interpreters (the same arrays reach both implementations through .npz files):

    # 1. with the project environment: the maps as s2mlib reads them and the model map (molmap at the resolution)
    .venv/bin/python tools/phenix_cc_oracle.py prepare --work /tmp/five_cc
    # 2. with an environment holding cctbx-base (python3.11 -m venv /work/oracle-venv &&
    #    /work/oracle-venv/bin/pip install cctbx-base numpy): five_cc on those arrays, the model read by iotbx
    /work/oracle-venv/bin/python tools/phenix_cc_oracle.py oracle --work /tmp/five_cc \
        --out tests/data/oracles/phenix_five_cc.json

Step 2 gives mmtbx the experimental map and our model map (``map_calc``) as flex arrays on the map's gridding,
and an xray_structure read from the model file by iotbx, moved by -origin into a P1 cell equal to the map box
(as phenix.map_model_cc does after its origin shift). mmtbx computes its own model mask from that structure.
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "data"
# entry -> resolution used for the model map (the reported one; 20026 '1.75?', 35448 unknown: 3.0 assumed)
PAIRS = {
    "0093_6GYN": 3.4,
    "8410_5TJ6": 3.4,
    "2513_4CI0_b": 3.36,
    "6272_3J9S": 2.6,
    "20026_3AJOfit": 1.75,
    "35448_8IHL": 3.0,
}


def _rows() -> dict[str, dict]:
    with open(SHARED / "pairs.tsv", newline="") as fh:
        return {row["entry"]: row for row in csv.DictReader(fh, delimiter="\t")}


def prepare(work: Path) -> None:
    """Write <entry>.npz: map, model map (molmap at the resolution on the map grid), origin, voxel size."""
    sys.path.insert(0, str(ROOT))
    from s2mlib.io.atoms import read_structure
    from s2mlib.io.density import read_map
    from s2mlib.sim.simulate import molmap

    work.mkdir(parents=True, exist_ok=True)
    rows = _rows()
    for entry, resolution in PAIRS.items():
        density = read_map(SHARED / rows[entry]["map_file"])
        structure = read_structure(SHARED / rows[entry]["model_file"])
        model = molmap(structure, resolution, ref_map=density)
        np.savez(
            work / f"{entry}.npz",
            map=density.data,
            model_map=model.data,
            origin=density.origin,
            voxel_size=density.voxel_size,
            resolution=resolution,
            n_atoms=structure.n_atoms,
            model_file=str(SHARED / rows[entry]["model_file"]),
        )
        print(entry, density.data.shape, structure.n_atoms, flush=True)


def _flex_map(data_zyx: np.ndarray):
    from scitbx.array_family import flex

    nz, ny, nx = data_zyx.shape
    values = flex.double(np.ascontiguousarray(data_zyx.transpose(2, 1, 0), dtype=np.float64).ravel())
    values.reshape(flex.grid(nx, ny, nz))  # cctbx order: x slowest, z fastest
    return values


def oracle(work: Path, out: Path) -> None:
    """five_cc on each prepared pair; results, versions and the command to a JSON file."""
    from importlib.metadata import version

    import iotbx.pdb
    from cctbx import crystal
    from mmtbx.maps.correlation import five_cc

    results = {}
    for entry in PAIRS:
        data = np.load(work / f"{entry}.npz")
        density, model = data["map"], data["model_map"]
        nz, ny, nx = density.shape
        voxel, origin = data["voxel_size"], data["origin"]
        cell = (nx * voxel[0], ny * voxel[1], nz * voxel[2], 90, 90, 90)
        symmetry = crystal.symmetry(unit_cell=cell, space_group_symbol="P1")
        hierarchy = iotbx.pdb.input(file_name=str(data["model_file"])).construct_hierarchy()
        hierarchy.atoms().set_xyz(hierarchy.atoms().extract_xyz() - tuple(float(v) for v in origin))
        xrs = hierarchy.extract_xray_structure(crystal_symmetry=symmetry)
        cc = five_cc(
            map=_flex_map(density),
            xray_structure=xrs,
            d_min=float(data["resolution"]),
            map_calc=_flex_map(model),
            compute_cc_box=True,
        )
        results[entry] = {
            "resolution": float(data["resolution"]),
            "n_atoms_iotbx": xrs.scatterers().size(),
            "n_atoms_s2mlib": int(data["n_atoms"]),
            "mask_voxels": int(cc.n_nodes_inside),
            "cc_mask": cc.result.cc_mask,
            "cc_box": cc.result.cc_box,
            "cc_volume": cc.result.cc_volume,
            "cc_peaks": cc.result.cc_peaks,
            "model_map_sum": float(np.sum(model, dtype=np.float64)),
            "model_map_sum_sq": float(np.sum(np.square(model, dtype=np.float64))),
        }
        print(entry, results[entry], flush=True)
    record = {
        "what": "mmtbx.maps.correlation.five_cc(map, xray_structure, d_min, map_calc=<s2mlib molmap at the "
        "resolution on the map grid>, compute_cc_box=True)",
        "mask": "mmtbx's own: masks.mask_from_xray_structure(p1=True) of the model, van der Waals radii + solvent "
        "radius 1.1 A, shrink truncation 0.9 A; does not depend on d_min",
        "cell": "P1, unit cell = map box (n * voxel size), model moved by -origin",
        "commands": [
            ".venv/bin/python tools/phenix_cc_oracle.py prepare --work /tmp/five_cc",
            "/work/oracle-venv/bin/python tools/phenix_cc_oracle.py oracle --work /tmp/five_cc "
            "--out tests/data/oracles/phenix_five_cc.json",
        ],
        "versions": {"cctbx-base": version("cctbx-base"), "numpy": np.__version__},
        "pairs": results,
    }
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(record, indent=1) + "\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("step", choices=["prepare", "oracle"])
    parser.add_argument("--work", type=Path, required=True, help="folder for the intermediate .npz files")
    parser.add_argument("--out", type=Path, default=ROOT / "tests" / "data" / "oracles" / "phenix_five_cc.json")
    args = parser.parse_args()
    prepare(args.work) if args.step == "prepare" else oracle(args.work, args.out)


if __name__ == "__main__":
    main()
