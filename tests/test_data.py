"""The downloader against a real HTTP server on 127.0.0.1 serving real shared maps/models laid out like EMDB/PDB."""

from __future__ import annotations

import gzip
import re
import shutil
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import gemmi
import numpy as np
import pandas as pd
import pytest
from helpers import pair

from s2mlib.errors import DownloadError, SourceError
from s2mlib.io.atoms import read_structure
from s2mlib.io.density import read_map
from s2mlib.io.download import (
    fetch_entry,
    fetch_manifest,
    needs_download,
    planned_downloads,
    read_emdb_header,
    reported_resolution,
    validate_emdb_id,
    validate_pdb_id,
)
from s2mlib.io.manifest import load_manifest
from s2mlib.io.sources import Sources

FAST = {"retries": 2, "backoff": 0.001, "timeout": 10.0, "progress": False}
# (entry in ../shared/data/pairs.tsv, resolution and primary contour written into the test header)
ENTRIES = {"35448_8IHL": (3.1, 0.42), "2566_3J6B": (3.2, 0.05)}


def header_xml(emdb: str, resolution: float | None, contour: float | None) -> str:
    """A minimal EMDB v3 header: resolution under final_reconstruction, a non-primary then a primary contour."""
    res = (
        (
            f'<singleparticle_processing><final_reconstruction><resolution res_type="BY AUTHOR" units="A">'
            f"{resolution}</resolution></final_reconstruction></singleparticle_processing>"
        )
        if resolution
        else ""
    )
    levels = (
        (
            f'<contour_list><contour primary="false"><level>99.0</level></contour>'
            f'<contour primary="true"><level>{contour}</level><source>AUTHOR</source></contour>'
            f"</contour_list>"
        )
        if contour is not None
        else ""
    )
    return (
        f'<?xml version="1.0" encoding="UTF-8"?>\n<emd emdb_id="EMD-{emdb}" version="3.0.9.3">'
        f"<structure_determination_list><structure_determination><method>singleParticle</method>{res}"
        f"</structure_determination></structure_determination_list>"
        f'<map format="CCP4"><file>emd_{emdb}.map.gz</file>{levels}</map></emd>\n'
    )


@pytest.fixture(scope="module")
def mirror(tmp_path_factory) -> Path:
    """A folder laid out like EMDB and the PDB, holding real pairs (models as gzipped mmCIF): 2566_3J6B (also in
    the in-repo tiny set) and, when ../shared/data is present, 35448_8IHL."""
    root = tmp_path_factory.mktemp("mirror")
    for entry, (resolution, contour) in ENTRIES.items():
        try:
            row = pair(entry)
        except pytest.skip.Exception:  # 35448_8IHL is only in ../shared/data: the tests that fetch it skip
            continue
        emdb, pdb = row["emdb_id"], row["pdb_id"]
        folder = root / "emdb" / "structures" / f"EMD-{emdb}"
        (folder / "map").mkdir(parents=True)
        (folder / "header").mkdir()
        shutil.copyfile(row["map_path"], folder / "map" / f"emd_{emdb}.map.gz")  # shared maps are gzipped MRC
        (folder / "header" / f"emd-{emdb}-v30.xml").write_text(header_xml(emdb, resolution, contour))
        model = root / "pdb" / "download" / f"{pdb}.cif.gz"
        model.parent.mkdir(parents=True, exist_ok=True)
        if row["model_file"].endswith(".cif"):
            text = Path(row["model_path"]).read_bytes()
        else:
            text = gemmi.read_structure(str(row["model_path"])).make_mmcif_document().as_string().encode()
        model.write_bytes(gzip.compress(text))
    return root


class Server:
    """http.server on an ephemeral port serving ``root``; logs requests and injects faults per path."""

    def __init__(self, root: Path, ranges: bool = True):
        self.root, self.ranges, self.log, self.faults = root, ranges, [], {}
        self.release = threading.Event()  # ends every stall (set on close)
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_HEAD(self):  # folders and files are there (a mirror's layout is found so); not logged
                target = outer.root / self.path.lstrip("/")
                if not (target.is_dir() or target.is_file()):
                    self.send_error(404)
                    return
                self.send_response(200)
                self.send_header("Content-Length", str(target.stat().st_size if target.is_file() else 0))
                self.end_headers()

            def do_GET(self):
                rng = self.headers.get("Range")
                outer.log.append((self.path, rng))
                fault = outer.faults.get(self.path, []).pop(0) if outer.faults.get(self.path) else None
                file = outer.root / self.path.lstrip("/")
                if fault == "500":
                    self.send_error(500)
                    return
                if fault == "stall":  # accept the request, never answer
                    outer.release.wait(60)
                    return
                if not file.is_file():
                    self.send_error(404)
                    return
                data = file.read_bytes()
                start = int(rng.split("=")[1].split("-")[0]) if rng and outer.ranges else 0
                body = data[start:]
                self.send_response(206 if start else 200)
                if start:
                    self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if fault in ("drop", "stall_body"):  # promise the whole body, send half, then close or stall
                    self.wfile.write(body[: len(body) // 2])
                    self.wfile.flush()
                    if fault == "stall_body":
                        outer.release.wait(60)
                    self.close_connection = True
                    return
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, args=(0.01,), daemon=True)
        self.thread.start()

    def close(self):
        self.release.set()
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join()


@pytest.fixture
def server(mirror):
    srv = Server(mirror)
    yield srv
    srv.close()


def files_in(folder: Path) -> list[Path]:
    return [p for p in folder.rglob("*") if p.is_file()] if folder.exists() else []


def map_url(emdb: str) -> str:
    return f"/emdb/structures/EMD-{emdb}/map/emd_{emdb}.map.gz"


def test_fetch_over_http_gives_the_source_bytes(server, mirror, tmp_path):
    row = pair("35448_8IHL")
    got = fetch_entry("EMD-35448", "8ihl", cache=tmp_path / "cache", mirror=server.url, **FAST)
    assert got["map"].read_bytes() == Path(row["map_path"]).read_bytes()
    assert gzip.decompress(got["model"].read_bytes()) == Path(row["model_path"]).read_bytes()
    assert got["map"] == tmp_path / "cache/emdb/structures/EMD-35448/map/emd_35448.map.gz"
    assert got["model"] == tmp_path / "cache/pdb/download/8IHL.cif.gz"
    assert (got["resolution"], got["contour"]) == ENTRIES["35448_8IHL"]  # the primary contour, not the first
    assert "x".join(map(str, read_map(got["map"]).shape_xyz)) == row["map_shape_xyz"]
    assert read_structure(got["model"]).n_atoms == read_structure(row["model_path"]).n_atoms
    assert sorted(path for path, _ in server.log) == sorted(
        [map_url("35448"), "/emdb/structures/EMD-35448/header/emd-35448-v30.xml", "/pdb/download/8IHL.cif.gz"]
    )


def test_second_fetch_is_served_from_the_cache_without_a_request(server, tmp_path):
    first = fetch_entry("2566", "3J6B", cache=tmp_path, mirror=server.url, **FAST)
    n = len(server.log)
    assert n == 3
    again = fetch_entry("2566", "3j6b", cache=tmp_path, mirror=server.url, **FAST)
    assert len(server.log) == n and again == first
    # a mirror that cannot be reached does not matter either
    assert fetch_entry("2566", "3J6B", cache=tmp_path, mirror="http://127.0.0.1:9", **FAST) == first


@pytest.mark.parametrize("fault, ranges", [("drop", True), ("drop", False), ("500", True)])
def test_dropped_connection_or_server_error_is_retried(mirror, tmp_path, fault, ranges):
    """A dropped transfer is resumed with a Range request (restarted when the server ignores Range)."""
    srv = Server(mirror, ranges=ranges)
    try:
        srv.faults[map_url("2566")] = [fault]
        got = fetch_entry("2566", cache=tmp_path, mirror=srv.url, **FAST)
        map_requests = [rng for path, rng in srv.log if path == map_url("2566")]
    finally:
        srv.close()
    source = Path(pair("2566_3J6B")["map_path"]).read_bytes()
    assert got["map"].read_bytes() == source and got["model"] is None
    assert map_requests == [None, f"bytes={len(source) // 2}-" if fault == "drop" else None]
    assert sorted(files_in(tmp_path)) == sorted([got["map"], got["header"]])


def test_persistent_failure_gives_up_and_leaves_nothing(server, tmp_path):
    server.faults[map_url("2566")] = ["500"] * 10
    with pytest.raises(DownloadError, match=r"EMD-2566 map: http://127\.0\.0\.1.*emd_2566\.map\.gz.*3 attempts"):
        fetch_entry("2566", cache=tmp_path, mirror=server.url, **FAST)
    assert len([p for p, _ in server.log if p == map_url("2566")]) == 3  # 1 + retries
    assert [p.name for p in files_in(tmp_path)] == ["emd-2566-v30.xml"]  # the header came first, whole


def test_truncated_gzip_is_an_error_and_nothing_enters_the_cache(mirror, tmp_path):
    bad = tmp_path / "bad_mirror"
    shutil.copytree(mirror, bad)
    target = bad / "emdb/structures/EMD-2566/map/emd_2566.map.gz"
    data = target.read_bytes()
    target.write_bytes(data[: int(len(data) * 0.6)])  # served whole (Content-Length matches): a corrupt source
    srv = Server(bad)
    try:
        with pytest.raises(DownloadError, match=r"EMD-2566 map: corrupt or truncated gzip"):
            fetch_entry("2566", cache=tmp_path / "cache", mirror=srv.url, **FAST)
        assert len([p for p, _ in srv.log if p == map_url("2566")]) == 1  # not retried
    finally:
        srv.close()
    assert [p.name for p in files_in(tmp_path / "cache")] == ["emd-2566-v30.xml"]
    with pytest.raises(DownloadError, match="corrupt or truncated gzip"):  # same from a folder mirror
        fetch_entry("2566", cache=tmp_path / "cache2", mirror=bad, **FAST)
    assert not any(p.name.endswith(".map.gz") or ".part" in p.name for p in files_in(tmp_path / "cache2"))


def test_404_names_the_id_and_url_and_is_not_retried(server, tmp_path):
    with pytest.raises(DownloadError, match=r"EMD-9999 header: not found \(HTTP 404.*/EMD-9999/header/emd-9999"):
        fetch_entry("9999", cache=tmp_path, mirror=server.url, **FAST)
    with pytest.raises(DownloadError, match=r"PDB 9ZZZ model: not found \(HTTP 404.*/pdb/download/9ZZZ\.cif\.gz"):
        fetch_entry("2566", "9zzz", cache=tmp_path, mirror=server.url, **FAST)
    assert [p for p, _ in server.log].count("/pdb/download/9ZZZ.cif.gz") == 1
    assert not any(p.name.startswith(("emd-9999", "9ZZZ")) for p in files_in(tmp_path))


@pytest.mark.parametrize(
    "emdb, pdb",
    [
        ("0", None),
        ("EMD-", None),
        ("EMD-12a4", None),
        ("", None),
        ("2566/../1", None),
        ("2566", "ABCD"),
        ("2566", "0ABC"),
        ("2566", "12345"),
        ("2566", "1AB"),
        ("2566", "../1"),
        ("2566", "pdb_1abc"),
        ("2566", "pdb_1000abc/"),
    ],
)
def test_invalid_ids_fail_before_any_request(server, tmp_path, emdb, pdb):
    kind, bad = ("PDB", pdb) if pdb else ("EMDB", emdb)
    with pytest.raises(DownloadError, match=f"invalid {kind} ID {re.escape(repr(bad))}"):
        fetch_entry(emdb, pdb, cache=tmp_path, mirror=server.url, **FAST)
    assert server.log == [] and files_in(tmp_path) == []


def test_id_normalisation():
    assert validate_emdb_id("EMD-0093") == validate_emdb_id("emd_0093") == validate_emdb_id(" 0093 ") == "0093"
    assert validate_emdb_id(26916) == "26916" and validate_pdb_id("6gyn") == "6GYN"
    # any length >= 4, shorter ones zero-padded as EMDB writes them; extended PDB IDs (wwPDB: 'pdb_' + 8)
    assert validate_emdb_id("93") == validate_emdb_id(93) == validate_emdb_id("EMD-93") == "0093"
    assert validate_emdb_id("123456") == "123456" and validate_emdb_id("000123456") == "123456"
    assert validate_pdb_id("pdb_00006gyn") == validate_pdb_id("PDB_00006GYN") == "6GYN"
    assert validate_pdb_id("pdb_1000AbCd") == "pdb_1000abcd"


@pytest.mark.parametrize("as_url", [False, True])
def test_local_folder_mirror(mirror, tmp_path, as_url):
    source = mirror.as_uri() if as_url else str(mirror)
    got = fetch_entry("2566", "3J6B", cache=tmp_path, mirror=source, **FAST)
    assert got["map"].read_bytes() == Path(pair("2566_3J6B")["map_path"]).read_bytes()
    assert got["model"].read_bytes() == (mirror / "pdb/download/3J6B.cif.gz").read_bytes()
    assert (got["resolution"], got["contour"]) == ENTRIES["2566_3J6B"]
    with pytest.raises(DownloadError, match=r"EMD-9999 header: not found in the mirror: .*emd-9999-v30\.xml"):
        fetch_entry("9999", cache=tmp_path, mirror=source, **FAST)
    with pytest.raises(DownloadError, match="mirror folder not found"):
        fetch_entry("2566", "1ABC", cache=tmp_path, mirror=tmp_path / "nowhere", **FAST)


def test_unreachable_server_gives_up_with_a_clear_error(tmp_path):
    """A mirror of named layout that refuses connections: each file is retried, then given up; one whose layout must
    be found stops at once (SourceError: no file can come from it)."""
    with socket.socket() as sock:  # a port that was free a moment ago: connections are refused
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    mirror = Sources(mirror=f"http://127.0.0.1:{port}", layout="s2m")
    with pytest.raises(DownloadError, match=r"EMD-2566 header: .*3 attempts; offline\?"):
        fetch_entry("2566", cache=tmp_path, mirror=mirror, **FAST)
    with pytest.raises(SourceError, match=rf"mirror http://127\.0\.0\.1:{port}/structures: cannot be reached"):
        fetch_entry("2566", cache=tmp_path, mirror=f"http://127.0.0.1:{port}", **FAST)
    assert files_in(tmp_path) == []


def test_read_emdb_header_missing_fields_and_bad_xml(tmp_path):
    path = tmp_path / "h.xml"
    path.write_text(header_xml("1234", None, None))
    info = read_emdb_header(path)
    assert np.isnan(info["resolution"]) and info["contour"] is None
    path.write_text("<emd><map>")
    with pytest.raises(DownloadError, match="h.xml: unreadable EMDB header"):
        read_emdb_header(path)


def test_read_emdb_header_of_the_retired_v19_schema(tmp_path):
    """Old emd-XXXX.xml files (schema 1.9): processing/reconstruction/resolutionByAuthor and map/contourLevel, the
    elements the public v1.9 readers take (e.g. webemdb's, Mol*'s before 2022)."""
    path = tmp_path / "emd-1234.xml"
    path.write_text(
        '<?xml version="1.0"?>\n<entry accessCode="EMD-1234" version="1.9.6"><processing><method>singleParticle'
        "</method><reconstruction><algorithm>x</algorithm><resolutionByAuthor>7.5</resolutionByAuthor>"
        '</reconstruction></processing><map><file format="CCP4">emd_1234.map.gz</file>'
        '<contourLevel source="author">1.25</contourLevel></map></entry>\n'
    )
    assert read_emdb_header(path) == {"resolution": 7.5, "contour": 1.25}


def test_reported_resolution_finds_the_header_beside_a_map(tmp_path):
    """EMDB's layout (EMD-XXXX/map/emd_XXXX.map.gz, EMD-XXXX/header/emd-XXXX-v30.xml), a header in the map's own
    folder, a header without a resolution, a map not named like EMDB's."""
    maps, headers = tmp_path / "EMD-1234" / "map", tmp_path / "EMD-1234" / "header"
    maps.mkdir(parents=True), headers.mkdir()
    mapfile = maps / "emd_1234.map.gz"
    assert reported_resolution(mapfile) is None
    (headers / "emd-1234-v30.xml").write_text(header_xml("1234", 6.6, None))
    assert reported_resolution(mapfile) == (6.6, headers / "emd-1234-v30.xml")
    (maps / "emd-1234.xml").write_text(header_xml("1234", 3.1, None))
    assert reported_resolution(mapfile) == (3.1, maps / "emd-1234.xml")
    (maps / "emd-1234.xml").write_text(header_xml("1234", None, 0.5))
    assert reported_resolution(mapfile) is None
    assert reported_resolution(maps / "my_map.mrc") is None


def test_fetch_manifest_downloads_only_what_is_missing(server, tmp_path):
    local = pair("6272_3J9S")
    manifest = tmp_path / "m.csv"
    manifest.write_text(
        "entry,emdb_id,pdb_id,resolution,map,model,split\n"
        f"local,6272,3J9S,2.6,{local['map_path']},{local['model_path']},train\n"
        "remote,35448,8IHL,,,,test\n"
        "remote_map_local_model,2566,3J6B,3.3,," + str(pair("2566_3J6B")["model_path"]) + ",val\n"
    )
    df = load_manifest(manifest)
    cache = tmp_path / "cache"
    plan = planned_downloads(df, cache, mirror=server.url)
    assert [(p["entry"], p["kind"]) for p in plan] == [
        ("remote", "header"),
        ("remote", "map"),
        ("remote", "model"),
        ("remote_map_local_model", "header"),
        ("remote_map_local_model", "map"),
    ]
    assert needs_download(df, cache) and not needs_download(df.iloc[:1], cache) and server.log == []
    out, summary = fetch_manifest(df, cache, mirror=server.url, **FAST)
    assert len(server.log) == 5 and not needs_download(out, cache) and not needs_download(df, cache)
    assert (len(summary.downloaded), len(summary.cached), summary.local, summary.failed) == (5, 0, 1, {})
    assert out["download_error"].tolist() == ["", "", ""]
    assert out.loc[0, "map"] == str(local["map_path"]) and out.loc[0, "model"] == str(local["model_path"])
    assert out.loc[1, "map"] == str(cache / "emdb/structures/EMD-35448/map/emd_35448.map.gz")
    assert out.loc[1, "model"] == str(cache / "pdb/download/8IHL.cif.gz")
    assert out.loc[2, "model"] == str(pair("2566_3J6B")["model_path"])
    assert out["resolution"].tolist() == [2.6, 3.1, 3.3]  # NaN filled from the header, given values kept
    assert out["contour"].tolist()[1:] == [0.42, 0.05] and np.isnan(out.loc[0, "contour"])
    assert df.loc[1, "map"] == ""  # the input is not modified
    again, summary = fetch_manifest(df, cache, mirror=server.url, **FAST)
    pd.testing.assert_frame_equal(again, out)
    assert len(server.log) == 5 and (len(summary.downloaded), len(summary.cached)) == (0, 5)


def test_fetch_manifest_validates_every_id_first(server, tmp_path):
    manifest = tmp_path / "m.csv"
    manifest.write_text("emdb_id,pdb_id\n2566,3J6B\n35448,XXXX\n")
    with pytest.raises(DownloadError, match=r"entry 35448_XXXX: invalid PDB ID 'XXXX'"):
        fetch_manifest(load_manifest(manifest), tmp_path, mirror=server.url, **FAST)
    assert server.log == []


# ------------------------------------------------------------------------------- faults: bad maps, stalls


def truncated_inside_gzip(source: Path) -> bytes:
    """A valid gzip stream holding a map cut 1000 bytes short: gzip checks alone accept it."""
    return gzip.compress(gzip.decompress(source.read_bytes())[:-1000])


def test_map_truncated_inside_a_valid_gzip_never_enters_the_cache(mirror, tmp_path):
    bad = tmp_path / "bad_mirror"
    shutil.copytree(mirror, bad)
    target = bad / "emdb/structures/EMD-2566/map/emd_2566.map.gz"
    target.write_bytes(truncated_inside_gzip(target))
    srv = Server(bad)
    try:
        with pytest.raises(
            DownloadError,
            match=r"EMD-2566 map: truncated or corrupt map: its header declares "
            r"(\d+) bytes, the gzip data holds (?!\1)\d+",
        ):
            fetch_entry("2566", cache=tmp_path / "cache", mirror=srv.url, **FAST)
        assert len([p for p, _ in srv.log if p == map_url("2566")]) == 1  # a corrupt file is not retried
    finally:
        srv.close()
    assert [p.name for p in files_in(tmp_path / "cache")] == ["emd-2566-v30.xml"]


def test_map_that_the_reader_refuses_never_enters_the_cache(mirror, tmp_path):
    """Sizes agree but the map holds NaN: s2mlib's own reader refuses it, so the cache does too."""
    bad = tmp_path / "bad_mirror"
    shutil.copytree(mirror, bad)
    target = bad / "emdb/structures/EMD-2566/map/emd_2566.map.gz"
    raw = bytearray(gzip.decompress(target.read_bytes()))
    raw[-4:] = np.array([np.nan], "<f4").tobytes()  # mode 2 (float32), little-endian
    target.write_bytes(gzip.compress(bytes(raw)))
    with pytest.raises(DownloadError, match=r"EMD-2566 map: not a usable map \(map holds 1 NaN"):
        fetch_entry("2566", cache=tmp_path / "cache", mirror=bad, **FAST)
    assert not any(p.name.endswith(".map.gz") for p in files_in(tmp_path / "cache"))


@pytest.mark.parametrize("damage", ["inside_gzip", "cut_gzip", "not_a_map"])
def test_bad_cached_map_is_moved_aside_and_fetched_again(server, tmp_path, damage):
    source = Path(pair("2566_3J6B")["map_path"])
    first = fetch_entry("2566", cache=tmp_path, mirror=server.url, **FAST)
    cached = first["map"]
    blob = {
        "inside_gzip": truncated_inside_gzip(source),
        "cut_gzip": source.read_bytes()[:-5000],
        "not_a_map": gzip.compress(b"<html>502 Bad Gateway</html>" * 50),
    }[damage]
    cached.write_bytes(blob)
    plan = planned_downloads(load_manifest_of(tmp_path, "2566"), tmp_path, mirror=server.url)
    assert [p["kind"] for p in plan] == ["map"]  # a dry run sees it, without moving anything
    assert cached.read_bytes() == blob
    n = len(server.log)
    with pytest.warns(UserWarning, match=r"EMD-2566 map: the cached file .*emd_2566\.map\.gz failed its check"):
        again = fetch_entry("2566", cache=tmp_path, mirror=server.url, **FAST)
    assert [p for p, _ in server.log[n:]] == [map_url("2566")]  # only the bad file is fetched again
    assert again["map"] == cached and cached.read_bytes() == source.read_bytes()
    assert cached.with_name("emd_2566.map.gz.bad").read_bytes() == blob


def load_manifest_of(folder: Path, emdb: str):
    manifest = folder / "m.csv"
    manifest.write_text(f"emdb_id,pdb_id\n{emdb},\n")
    return load_manifest(manifest)


def test_good_cached_map_is_checked_cheaply(server, tmp_path, monkeypatch):
    """A cache hit reads the header and the gzip trailer, not the whole map: no full decompression, no request."""
    import s2mlib.io.download as data

    fetch_entry("2566", cache=tmp_path, mirror=server.url, **FAST)
    n = len(server.log)

    def no_full_check(*args):
        raise AssertionError("a cache hit decompressed the whole file")

    monkeypatch.setattr(data, "_check_gzip", no_full_check)
    monkeypatch.setattr(data, "read_map", no_full_check)
    fetch_entry("2566", cache=tmp_path, mirror=server.url, **FAST)
    assert len(server.log) == n


@pytest.mark.parametrize("fault", ["stall", "stall_body"])
def test_stalled_mirror_fails_within_the_timeout(server, tmp_path, fault, capsys):
    """A mirror that stops answering (before the headers, or halfway through the body): s2m fetch --timeout 0.5
    --retries 1 gives up after 2 attempts, in seconds, with one line and exit status 2; nothing is cached."""
    from s2mlib.cli import main

    server.faults["/emdb/structures/EMD-2566/header/emd-2566-v30.xml"] = [fault] * 5
    start = time.monotonic()
    status = main(
        ["fetch", "2566", "--cache", str(tmp_path), "--mirror", server.url, "--timeout", "0.5", "--retries", "1"]
    )
    took = time.monotonic() - start
    err = capsys.readouterr().err.strip()
    assert status == 2 and len(err.splitlines()) == 1 and "Traceback" not in err
    assert err.startswith("s2m fetch: error: EMD-2566 header: ") and "gave up after 2 attempts" in err
    assert took < 10 and files_in(tmp_path) == []


def test_fetch_timeout_and_retries_defaults_are_stated(capsys):
    import s2mlib.io.download as data
    from s2mlib.cli import main

    assert (data.DEFAULT_TIMEOUT, data.DEFAULT_RETRIES) == (20.0, 3)
    with pytest.raises(SystemExit):
        main(["fetch", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "--timeout" in text and "(default 20)" in text and "--retries" in text and "(default 3)" in text


@pytest.mark.parametrize("same", ["the folder", "a symlink to it"])
def test_a_mirror_that_is_the_cache_folder_is_refused(tmp_path, capsys, same):
    """s2m fetch --cache X --mirror X moved the mirror's damaged map aside (NAME.bad) and then did not find it."""
    from s2mlib.cli import main

    root = tmp_path / "x"
    folder = root / "emdb" / "structures" / "EMD-2566"
    (folder / "map").mkdir(parents=True)
    damaged = Path(pair("2566_3J6B")["map_path"]).read_bytes()[:-5000]
    (folder / "map" / "emd_2566.map.gz").write_bytes(damaged)
    mirror = root
    if same == "a symlink to it":
        mirror = tmp_path / "link"
        mirror.symlink_to(root)
    assert main(["fetch", "2566", "--cache", str(root), "--mirror", str(mirror), "--retries", "0"]) == 2
    line = capsys.readouterr().err.strip()
    assert re.fullmatch(r"s2m fetch: error: \S+: the mirror is the cache folder \(\S+\): .*", line), line
    assert [p.name for p in (folder / "map").iterdir()] == ["emd_2566.map.gz"]
    assert (folder / "map" / "emd_2566.map.gz").read_bytes() == damaged
