"""A rehearsal of the paper's run in the field, against a local copy of EMDB's and RCSB's services
(tests/archive_server.py: two hosts on 127.0.0.1 with the real paths, real EMDB v3 headers, real maps and models of
../shared/data under those IDs, one entry missing and one corrupt).

The paper profile's notebook 01 runs through the runner with the hosts pointed at the copy (``$S2M_EMDB_URL``,
``$S2M_PDB_URL``) on the tiny manifest ``tests/data/rehearsal.csv``: the missing and the corrupt entries end up
excluded with their reasons, the others curated, and a rerun asks only for the failed files. The dry run sizes every
file from HEAD requests before any byte is fetched. ``s2m fetch`` works against mirrors in EMDB's own layout and in
the wwPDB archive's. The oracles: the files as served (bytes and sizes), the paths of the real services written out
by hand, and the header values read by eye from the files (tests/data/README.md).
"""

from __future__ import annotations

import gzip
import socket
from pathlib import Path

import pandas as pd
import pytest
from archive_server import Archive
from helpers import TEST_DATA, pair

from s2mlib.cli import main
from s2mlib.errors import ManifestError
from s2mlib.io.download import fetch_manifest, read_emdb_header
from s2mlib.io.manifest import load_manifest, require_kept
from s2mlib.run import runner
from s2mlib.study.curate import CurationConfig, curate_manifest

MANIFEST = TEST_DATA / "rehearsal.csv"
FAST = {"retries": 1, "backoff": 0.001, "timeout": 10.0, "progress": False}
EBI_EMDB = "/pub/databases/emdb/structures"  # ftp.ebi.ac.uk's EMDB tree
# read by eye from tests/data/emdb_headers: final_reconstruction/resolution and the primary contour level
HEADER_VALUES = {"emd-1004-v30.xml": (13.0, 0.0411), "emd-1008-v30.xml": (10.9, 55.2), "emd-1010.xml": (12.9, 4.07)}
MISSING = "0093_6GYN"
CORRUPT = "1010_1MVR"


@pytest.fixture(scope="module")
def archive():
    with Archive() as served:
        yield served


@pytest.fixture
def hosts(archive, monkeypatch):
    """The run pointed at the local copy: $S2M_EMDB_URL (EBI's EMDB tree) and $S2M_PDB_URL (RCSB's downloads)."""
    for key, value in archive.environment().items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("S2M_CACHE", raising=False)
    archive.ebi.log.clear(), archive.rcsb.log.clear()
    return archive


def served(host, path: str) -> bytes:
    source = host.files[path]
    return source.read_bytes() if isinstance(source, Path) else source


def test_the_real_headers_read_as_written():
    for name, (resolution, contour) in HEADER_VALUES.items():
        info = read_emdb_header(TEST_DATA / "emdb_headers" / name)
        assert (info["resolution"], info["contour"]) == pytest.approx((resolution, contour), abs=1e-12), name


def test_the_server_listens_on_loopback_only(archive):
    for host in (archive.ebi, archive.rcsb):
        assert host.httpd.server_address[0] == "127.0.0.1"


def test_dry_run_sizes_every_file_from_the_server_before_any_byte(hosts, tmp_path, capsys):
    cache = tmp_path / "cache"
    args = [
        "--profile",
        "paper",
        "--dry-run",
        "--only",
        "01",
        "-p",
        "manifest",
        str(MANIFEST),
        "-p",
        "cache",
        str(cache),
    ]
    assert runner.main(args + ["-p", "run_dir", str(tmp_path / "run")]) == 0
    out = capsys.readouterr().out
    emdb, pdb = hosts.ebi.url + EBI_EMDB, hosts.rcsb.url + "/download"
    expected = {  # URL -> size of the file served there
        f"{emdb}/EMD-1004/header/emd-1004-v30.xml": (EBI_EMDB + "/EMD-1004/header/emd-1004-v30.xml", hosts.ebi),
        f"{emdb}/EMD-1004/map/emd_1004.map.gz": (EBI_EMDB + "/EMD-1004/map/emd_1004.map.gz", hosts.ebi),
        f"{pdb}/3J6B.cif.gz": ("/download/3J6B.cif.gz", hosts.rcsb),
        f"{emdb}/EMD-1008/header/emd-1008-v30.xml": (EBI_EMDB + "/EMD-1008/header/emd-1008-v30.xml", hosts.ebi),
        f"{emdb}/EMD-1008/map/emd_1008.map.gz": (EBI_EMDB + "/EMD-1008/map/emd_1008.map.gz", hosts.ebi),
        f"{pdb}/3J6J.cif.gz": ("/download/3J6J.cif.gz", hosts.rcsb),
        f"{emdb}/EMD-1010/header/emd-1010.xml": (EBI_EMDB + "/EMD-1010/header/emd-1010.xml", hosts.ebi),  # fallback
        f"{emdb}/EMD-1010/map/emd_1010.map.gz": (EBI_EMDB + "/EMD-1010/map/emd_1010.map.gz", hosts.ebi),
        f"{pdb}/3JCI.cif.gz": ("/download/3JCI.cif.gz", hosts.rcsb),
        f"{pdb}/1MVR.cif.gz": ("/download/1MVR.cif.gz", hosts.rcsb),  # corrupt, but a dry run cannot tell
    }
    sizes = {url: len(served(host, path)) for url, (path, host) in expected.items()}
    listed = {
        line.split()[-1]: line.split()[:2] for line in out.splitlines() if line.startswith("  ") and "://" in line
    }
    missing = {line.split()[2] for line in out.splitlines() if "size ?" in line}
    assert (
        missing
        == {
            f"{emdb}/EMD-0093/header/emd-0093-v30.xml",
            f"{emdb}/EMD-0093/map/emd_0093.map.gz",
            f"{pdb}/6GYN.cif.gz",
        }
        and out.count("(HTTP 404 Not Found)") == 3
    )
    for url, size in sizes.items():
        number, unit = listed[url]
        assert float(number) * {"kB": 1e3, "MB": 1e6}[unit] == pytest.approx(size, abs=51 if unit == "kB" else 5.1e4)
    total = sum(sizes.values())
    assert f"downloads: 13 files, {total / 1e3:.1f} kB for the 10 of known size; 3 of unknown size " in out
    assert "(HTTP 404 Not Found: 3)" in out
    assert hosts.ebi.requests("GET") == hosts.rcsb.requests("GET") == [] and not cache.exists()  # HEAD only


def test_the_paper_profile_notebook_01_goes_on_past_a_missing_and_a_corrupt_entry(hosts, tmp_path, capsys):
    """The rehearsal: ./run_all.sh --profile paper -p manifest tests/data/rehearsal.csv --only 01, hosts set."""
    cache, run = tmp_path / "cache", tmp_path / "run"
    args = ["--profile", "paper", "--only", "01", "-p", "manifest", str(MANIFEST), "-p", "cache", str(cache)]
    assert runner.main(args + ["-p", "run_dir", str(run), "-p", "figures_dir", str(tmp_path / "fig")]) == 0
    out = capsys.readouterr().out
    table = pd.read_csv(run / "curation.csv", dtype={"emdb_id": str}, keep_default_na=False).set_index("entry")
    header_404 = (
        f"download failed: EMD-0093 header: not found (HTTP 404 Not Found) at {hosts.ebi.url}{EBI_EMDB}/EMD-0093/"
        "header/emd-0093-v30.xml, nor emd-0093.xml"
    )
    assert table.loc[MISSING, "reason"] == header_404 and table.loc[MISSING, "emdb_id"] == "0093"  # '93' padded
    assert table.loc[CORRUPT, "reason"].startswith("download failed: PDB 1MVR model: corrupt or truncated gzip data")
    kept = table[table["kept"].astype(str) == "True"]
    assert kept["split"].to_dict() == {"1004_3J6B": "train", "1008_3J6J": "val", "1010_3JCI": "test"}
    assert kept["resolution"].astype(float).to_dict() == {"1004_3J6B": 13.0, "1008_3J6J": 3.6, "1010_3JCI": 12.9}
    assert all(Path(p).is_file() for p in (*kept["exp_map"], *kept["sim_map"]))
    assert Path(kept.loc["1004_3J6B", "map"]).read_bytes() == Path(pair("2566_3J6B")["map_path"]).read_bytes()
    # the runner shows 01's summary: files downloaded, found in the cache (1010's header and map, shared), failures
    summary = (run / "downloads.txt").read_text().splitlines()
    assert summary[0].startswith("downloads: 9 files downloaded (") and "2 found in the cache, 2 entries failed:" in out
    assert f"  {MISSING}: {header_404.removeprefix('download failed: ')}" in summary
    assert all(f"   {line}" in out for line in summary)
    # what was asked of each host: the v30 header, then emd-XXXX.xml where it is missing (EMD-1010, EMD-0093)
    gets = hosts.ebi.requests("GET") + hosts.rcsb.requests("GET")
    assert f"{EBI_EMDB}/EMD-1010/header/emd-1010.xml" in gets and "/download/6GYN.cif.gz" not in gets

    # a rerun asks only for the failed files (the rest is in the cache), and fails them again
    hosts.ebi.log.clear(), hosts.rcsb.log.clear()
    again, downloads = fetch_manifest(load_manifest(MANIFEST), cache, **FAST)
    assert sorted(hosts.ebi.requests("GET") + hosts.rcsb.requests("GET")) == [
        "/download/1MVR.cif.gz",
        f"{EBI_EMDB}/EMD-0093/header/emd-0093-v30.xml",
        f"{EBI_EMDB}/EMD-0093/header/emd-0093.xml",
    ]
    assert (len(downloads.downloaded), len(downloads.cached), sorted(downloads.failed)) == (0, 11, [MISSING, CORRUPT])


def test_a_split_left_empty_by_failed_downloads_stops_saying_how_many(hosts, tmp_path):
    manifest = tmp_path / "m.csv"
    manifest.write_text("emdb_id,pdb_id,split\n1004,3J6B,train\n93,6GYN,val\n1010,3JCI,test\n")
    fetched, downloads = fetch_manifest(load_manifest(manifest), tmp_path / "cache", **FAST)
    assert list(downloads.failed) == [MISSING]
    table = curate_manifest(fetched, tmp_path / "curated", CurationConfig())
    with pytest.raises(ManifestError) as stop:
        require_kept(table)
    assert str(stop.value).startswith(
        "no kept entry in split(s) val (kept: train 1, test 1): 2 of 3 entries kept, 1 excluded, 1 of them because a "
        "download failed (rerun to retry those); the run needs at least one in each of train, val, test."
    )


def test_the_runner_probes_both_hosts_before_the_first_notebook(hosts, tmp_path, monkeypatch, capsys):
    with socket.socket() as sock:  # a port that was free a moment ago: connections are refused
        sock.bind(("127.0.0.1", 0))
        dead = f"127.0.0.1:{sock.getsockname()[1]}"
    monkeypatch.setenv("S2M_PDB_URL", f"http://{dead}")
    args = ["--profile", "paper", "--only", "01", "-p", "manifest", str(MANIFEST), "-p", "cache", str(tmp_path / "c")]
    assert runner.main(args + ["-p", "run_dir", str(tmp_path / "run")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("run_all.sh: error: the manifest ") and len(err.splitlines()) == 1
    assert f"cannot reach {dead} (PDB)." in err and hosts.ebi.url.split("//")[1] not in err  # EMDB's host answered
    assert not (tmp_path / "run" / "curation.csv").exists()


@pytest.mark.parametrize(
    "mirror, layout, model_path",
    [
        ("rcsb:/pub/emdb", "auto", "/download/3J6J.cif.gz"),  # EMDB's own tree (as wwPDB hosts serve it): models
        ("rcsb:/pub/emdb", "emdb", "/download/3J6J.cif.gz"),  # from $S2M_PDB_URL
        ("rcsb:/pub", "auto", "/pub/pdb/data/structures/divided/mmCIF/j6/3j6j.cif.gz"),  # the wwPDB archive
        ("ebi:/pub/databases", "wwpdb", "/pub/databases/pdb/data/structures/divided/mmCIF/j6/3j6j.cif.gz"),
    ],
)
def test_s2m_fetch_from_a_mirror_in_the_real_layouts(hosts, tmp_path, capsys, mirror, layout, model_path):
    host_name, path = mirror.split(":")
    host = getattr(hosts, host_name)
    args = ["fetch", "EMD-1008", "3j6j", "--cache", str(tmp_path), "--mirror", host.url + path, "--retries", "0"]
    assert main(args + ["--mirror-layout", layout]) == 0
    out = capsys.readouterr().out
    emdb = path + ("/structures" if path.endswith("/emdb") else "/emdb/structures") + "/EMD-1008"
    assert host.requests("GET")[:2] == [f"{emdb}/header/emd-1008-v30.xml", f"{emdb}/map/emd_1008.map.gz"]
    model_host = hosts.rcsb if model_path.startswith("/download") or host_name == "rcsb" else hosts.ebi
    assert model_host.requests("GET")[-1] == model_path
    cached_map = tmp_path / "emdb/structures/EMD-1008/map/emd_1008.map.gz"
    assert cached_map.read_bytes() == Path(pair("5925_3J6J")["map_path"]).read_bytes()
    assert (tmp_path / "pdb/download/3J6J.cif.gz").read_bytes() == served(model_host, model_path)
    assert "resolution: 10.9" in out and "contour: 55.2" in out


def test_s2m_fetch_from_local_folders_in_the_real_layouts(hosts, tmp_path, monkeypatch, capsys):
    """A local EMDB tree (symlinks to the files where they lie) as the mirror, and a local wwPDB mmCIF tree as
    $S2M_PDB_URL (its last folder 'mmCIF' names the divided layout)."""
    emdb = tmp_path / "emdb_copy" / "structures" / "EMD-1004"
    (emdb / "header").mkdir(parents=True), (emdb / "map").mkdir()
    (emdb / "header" / "emd-1004-v30.xml").symlink_to(TEST_DATA / "emdb_headers" / "emd-1004-v30.xml")
    (emdb / "map" / "emd_1004.map.gz").symlink_to(pair("2566_3J6B")["map_path"])
    divided = tmp_path / "pdb_copy" / "data" / "structures" / "divided" / "mmCIF"
    (divided / "j6").mkdir(parents=True)
    model = served(hosts.rcsb, "/download/3J6B.cif.gz")
    (divided / "j6" / "3j6b.cif.gz").write_bytes(model)
    monkeypatch.setenv("S2M_PDB_URL", str(divided))
    cache = tmp_path / "cache"
    assert main(["fetch", "1004", "pdb_00003j6b", "--cache", str(cache), "--mirror", str(tmp_path / "emdb_copy")]) == 0
    assert "resolution: 13.0" in capsys.readouterr().out
    assert (cache / "pdb/download/3J6B.cif.gz").read_bytes() == model
    assert gzip.decompress(model).startswith(b"data_")
    assert hosts.ebi.log == [] and hosts.rcsb.log == []


def test_s2m_fetch_list_summarises_and_exits_1_when_an_entry_failed(hosts, tmp_path, capsys):
    args = ["fetch", "--list", str(MANIFEST), "--cache", str(tmp_path), "--retries", "0"]
    assert main(args) == 1
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("downloads: 9 files downloaded (") and lines[0].endswith(
        "2 found in the cache, 2 entries failed:"
    )
    assert [line.split(":")[0] for line in lines[1:3]] == [f"  {MISSING}", f"  {CORRUPT}"]
    assert lines[3] == "  a rerun retries only these (the files in the cache are not fetched again)"
    assert main(args) == 1
    assert capsys.readouterr().out.splitlines()[0].startswith("downloads: 0 files downloaded (0.0 MB), 11 found in")


def test_the_profile_keys_name_the_sources(hosts, tmp_path, capsys):
    """mirror, mirror_layout, emdb_url, pdb_url and cache are profile keys (-p KEY VALUE; notebook 01 reads them):
    a relative folder is taken from the project root, a URL as it is; a layout that does not exist stops the run
    before any notebook, in one line."""
    from s2mlib.io.sources import Sources
    from s2mlib.run.config import ROOT, load_profile

    params = load_profile("paper", {"mirror": hosts.rcsb.url + "/pub", "mirror_layout": "wwpdb", "cache": "c"})
    assert params["cache"] == str(ROOT / "c") and params["mirror"] == hosts.rcsb.url + "/pub"
    sources = Sources.from_params(params)
    assert sources.location("map", "1004") == f"{hosts.rcsb.url}/pub/emdb/structures/EMD-1004/map/emd_1004.map.gz"
    assert sources.location("model", "3J6B") == f"{hosts.rcsb.url}/pub/pdb/data/structures/divided/mmCIF/j6/3j6b.cif.gz"
    args = ["--profile", "paper", "--only", "01", "-p", "manifest", str(MANIFEST), "-p", "mirror_layout", "rcsb"]
    assert runner.main(args + ["-p", "run_dir", str(tmp_path / "run")]) == 2
    assert capsys.readouterr().err.strip() == (
        "run_all.sh: error: mirror layout 'rcsb' is not one of auto, emdb, wwpdb, s2m"
    )
