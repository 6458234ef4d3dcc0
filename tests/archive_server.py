"""A local copy of EMDB's and the PDB's public file services over HTTP on 127.0.0.1: the rehearsal of the paper's run
(tests/test_rehearsal.py), and by hand: ``.venv/bin/python tests/archive_server.py`` prints the URLs and the variables
to set, and serves until Ctrl-C.

Two hosts (two ports), with the paths of the real ones:

- ``ebi`` (like ftp.ebi.ac.uk): ``/pub/databases/emdb/structures/EMD-XXXX/{header,map}/...`` and the wwPDB archive's
  ``/pub/databases/pdb/data/structures/divided/mmCIF/xx/xxxx.cif.gz``;
- ``rcsb`` (like files.rcsb.org): ``/download/XXXX.cif.gz``, and as ``/pub/emdb/...`` and
  ``/pub/pdb/data/structures/divided/mmCIF/...`` the same trees as the wwPDB hosts serve them.

Content (:data:`ENTRIES`): the real EMDB v3 headers of ``tests/data/emdb_headers`` (EMD-1004 and EMD-1008 as
``emd-XXXX-v30.xml``; EMD-1010 only as ``emd-1010.xml``, the fallback name) with, under those IDs, real maps and
models of ``../shared/data`` (or the in-repo tiny set), read where they lie: a map is served as its gzipped MRC bytes,
a model converted to mmCIF by gemmi and gzipped in memory. Faults: EMD-0093 is not there (a withdrawn entry: 404) and
1MVR's model is served cut at 60 % (a corrupt file; its Content-Length is the cut size, as a broken mirror would send).
Folders answer HEAD and GET with a listing (as the real hosts' indexes do); files answer HEAD and Range requests.
The servers bind 127.0.0.1 only, on ports the system picks, and stop on :meth:`Archive.close` (``with Archive()``).
"""

from __future__ import annotations

import gzip
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import gemmi
from helpers import TEST_DATA, pair

HEADERS = TEST_DATA / "emdb_headers"
# EMDB ID -> (header file in HEADERS, pair of ../shared/data whose map is served as the entry's map)
ENTRIES = {
    "1004": ("emd-1004-v30.xml", "2566_3J6B"),
    "1008": ("emd-1008-v30.xml", "5925_3J6J"),
    "1010": ("emd-1010.xml", "6555_3JCI"),
}
# PDB ID -> pair whose model is served as it
MODELS = {"3J6B": "2566_3J6B", "3J6J": "5925_3J6J", "3JCI": "6555_3JCI"}
CORRUPT = {"1MVR": "6555_3JCI"}  # served cut at 60 %
EMDB_TREES = {"ebi": "/pub/databases/emdb", "rcsb": "/pub/emdb"}
DIVIDED_TREES = {
    "ebi": "/pub/databases/pdb/data/structures/divided/mmCIF",
    "rcsb": "/pub/pdb/data/structures/divided/mmCIF",
}


def model_cif_gz(entry: str) -> bytes:
    """A pair's model as the PDB serves it: mmCIF (gemmi's writing of the shared PDB/mmCIF file), gzipped."""
    path = Path(pair(entry)["model_path"])
    return gzip.compress(gemmi.read_structure(str(path)).make_mmcif_document().as_string().encode(), mtime=0)


def archive_files() -> dict[str, dict[str, Path | bytes]]:
    """Per host, URL path -> a file to serve as it is (Path) or bytes."""
    models = {pdb: model_cif_gz(entry) for pdb, entry in MODELS.items()}
    models |= {pdb: (blob := model_cif_gz(entry))[: int(len(blob) * 0.6)] for pdb, entry in CORRUPT.items()}
    hosts: dict[str, dict[str, Path | bytes]] = {"ebi": {}, "rcsb": {}}
    for host, files in hosts.items():
        for emdb, (header, entry) in ENTRIES.items():
            folder = f"{EMDB_TREES[host]}/structures/EMD-{emdb}"
            files[f"{folder}/header/{header}"] = HEADERS / header
            files[f"{folder}/map/emd_{emdb}.map.gz"] = Path(pair(entry)["map_path"])  # shared maps are gzipped MRC
        for pdb, blob in models.items():
            files[f"{DIVIDED_TREES[host]}/{pdb[1:3].lower()}/{pdb.lower()}.cif.gz"] = blob
    hosts["rcsb"] |= {f"/download/{pdb}.cif.gz": blob for pdb, blob in models.items()}
    return hosts


class Host:
    """One host: a threaded http.server on 127.0.0.1 serving ``files`` (URL path -> Path or bytes); ``log`` holds
    (method, path) of every request."""

    def __init__(self, files: dict[str, Path | bytes]):
        self.files, self.log = files, []
        self.folders = {"/"} | {path[: i + 1] for path in files for i in range(len(path)) if path[i] == "/"}
        outer = self

        class Handler(BaseHTTPRequestHandler):
            timeout = 10  # a client that stops talking frees its thread

            def do_HEAD(self):
                self.answer(body=False)

            def do_GET(self):
                self.answer(body=True)

            def answer(self, body: bool):
                path = self.path.split("?", 1)[0]
                outer.log.append((self.command, path))
                if path in outer.files:
                    source = outer.files[path]
                    data = source.read_bytes() if isinstance(source, Path) else source
                    rng = self.headers.get("Range")
                    start = int(rng.split("=")[1].split("-")[0]) if rng and rng.startswith("bytes=") else 0
                    self.send_response(206 if start else 200)
                    if start:
                        self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
                    data = data[start:]
                    self.send_header("Content-Type", "application/octet-stream")
                elif path.rstrip("/") + "/" in outer.folders:
                    if not path.endswith("/"):  # as the real servers do: a folder's URL ends with '/'
                        self.send_response(301)
                        self.send_header("Location", path + "/")
                        self.send_header("Content-Length", "0")
                        self.end_headers()
                        return
                    names = sorted(
                        {p[len(path) :].split("/", 1)[0] for p in (*outer.files, *outer.folders) if p.startswith(path)}
                        - {""}
                    )
                    data = "".join(f'<a href="{n}">{n}</a>\n' for n in names).encode()
                    self.send_response(200)
                    self.send_header("Content-Type", "text/html")
                else:
                    self.send_error(404)
                    return
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                if body:
                    self.wfile.write(data)

            def log_message(self, *args):
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, args=(0.05,), daemon=True)
        self.thread.start()

    def requests(self, method: str = "GET") -> list[str]:
        return [path for m, path in self.log if m == method]

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join()


class Archive:
    """Both hosts (:attr:`ebi`, :attr:`rcsb`) and the variables that point a run at them (:meth:`environment`)."""

    def __init__(self):
        files = archive_files()
        self.ebi, self.rcsb = Host(files["ebi"]), Host(files["rcsb"])

    def environment(self) -> dict[str, str]:
        """``S2M_EMDB_URL`` (EBI's EMDB tree) and ``S2M_PDB_URL`` (RCSB's download service) on the local hosts."""
        return {"S2M_EMDB_URL": self.ebi.url + EMDB_TREES["ebi"], "S2M_PDB_URL": self.rcsb.url}

    def close(self) -> None:
        self.ebi.close()
        self.rcsb.close()

    def __enter__(self) -> Archive:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


if __name__ == "__main__":
    with Archive() as archive:
        for key, value in archive.environment().items():
            print(f"export {key}={value}")
        print(f"# mirrors: {archive.rcsb.url}/pub/emdb (EMDB layout), {archive.rcsb.url}/pub (wwPDB layout)")
        print("# serving until Ctrl-C", flush=True)
        try:
            threading.Event().wait()
        except KeyboardInterrupt:
            sys.exit(0)
