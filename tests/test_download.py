"""Downloads against a real HTTP server on loopback serving real dataset files."""

from __future__ import annotations

import functools
import http.server
import socket
import threading
import zipfile
from pathlib import Path

import pytest
from conftest import shared_path

from xlbridge.data import load_ratings
from xlbridge.cache import cache_dir
from xlbridge.download import fetch
from xlbridge.errors import XlbridgeInputError


@pytest.fixture
def server(tmp_path):
    """A real HTTP server on 127.0.0.1 serving tmp_path/www; yields (base URL, folder)."""
    www = tmp_path / "www"
    www.mkdir()
    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args):
            pass

    handler = functools.partial(Quiet, directory=str(www))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}", www
    httpd.shutdown()
    httpd.server_close()


def _zip(path: Path, members: dict[str, bytes]) -> None:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in members.items():
            zf.writestr(name, data)


def _ml_small_members() -> dict[str, bytes]:
    src = shared_path("data", "ml-latest-small")
    return {f"ml-latest-small/{n}": (src / n).read_bytes() for n in ("ratings.csv", "movies.csv", "README.txt")}


def test_download_unpacks_verifies_and_caches(server):
    url, www = server
    _zip(www / "ml-latest-small.zip", _ml_small_members())
    folder = fetch("ml-latest-small", f"{url}/ml-latest-small.zip", progress=False)
    assert folder == cache_dir() / "ml-latest-small"
    assert load_ratings(folder).ratings.shape[0] == 100_836
    # cached: a second fetch needs no server at all
    (www / "ml-latest-small.zip").unlink()
    assert fetch("ml-latest-small", f"{url}/ml-latest-small.zip", progress=False) == folder


def test_checksum_mismatch_leaves_nothing(server):
    url, www = server
    members = _ml_small_members()
    members["ml-latest-small/ratings.csv"] = members["ml-latest-small/ratings.csv"].replace(b"1,1,4.0", b"1,1,5.0", 1)
    _zip(www / "bad.zip", members)
    with pytest.raises(XlbridgeInputError, match="checksum mismatch for ratings.csv"):
        fetch("ml-latest-small", f"{url}/bad.zip", progress=False)
    assert not (cache_dir() / "ml-latest-small").exists()
    assert [p.name for p in cache_dir().iterdir()] == []  # no partial download either


def test_single_file_dataset(server):
    url, www = server
    (www / "nietzsche.txt").write_bytes(shared_path("data", "nietzsche", "nietzsche.txt").read_bytes())
    path = fetch("nietzsche", f"{url}/nietzsche.txt", progress=False)
    assert path.read_text(encoding="utf-8").startswith("PREFACE\n\n\nSUPPOSING that Truth is a woman")


@pytest.mark.parametrize("setup, message", [
    (lambda www: (www / "x.zip").write_bytes(b"not a zip at all"), "not a zip archive"),
    (lambda www: _zip(www / "x.zip", {"ml-latest-small/README.txt": b"hi"}), "the download has no ratings.csv"),
    (lambda www: _zip(www / "x.zip", {"a/../../evil.csv": b"x", "a/ratings.csv": b"y"}), "points outside the folder"),
    (lambda www: None, r"download failed \(HTTP 404"),
])
def test_bad_downloads(server, setup, message):
    url, www = server
    setup(www)
    with pytest.raises(XlbridgeInputError, match=message):
        fetch("ml-latest-small", f"{url}/x.zip", progress=False)
    assert not (cache_dir() / "ml-latest-small").exists()


def test_unreachable_server_and_unknown_name():
    with socket.socket() as s:  # a port with nobody listening
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(XlbridgeInputError, match="download failed"):
        fetch("ml-100k", f"http://127.0.0.1:{port}/ml-100k.zip", progress=False)
    with pytest.raises(XlbridgeInputError, match="unknown dataset 'ml-1m'"):
        fetch("ml-1m")
