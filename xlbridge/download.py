"""Download and cache the course's datasets on request, verified by checksum.

Nothing from elsewhere is committed (docs/architecture.md, principle 6): MovieLens and the Nietzsche text
are fetched once into the cache ($XLBRIDGE_CACHE, else ~/.cache/xlbridge), with a progress bar.
The checksums are those of the files a lesson reads (ratings, titles, text), so a re-packed
archive with the same data is accepted and a corrupted one is not. A download either
completes and verifies, or leaves nothing behind.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
import urllib.error
import urllib.request
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

from tqdm import tqdm

from xlbridge.cache import cache_dir
from xlbridge.errors import XlbridgeInputError

CHUNK = 1 << 16
MAX_UNPACKED = 1 << 30  # refuse archives that would unpack to more than 1 GiB


@dataclass(frozen=True)
class Dataset:
    name: str
    url: str
    checksums: dict[str, str] = field(default_factory=dict)  # path inside the result -> sha256
    archive: bool = True                                     # a zip to unpack, or a single file


DATASETS = {d.name: d for d in [
    Dataset("ml-latest-small", "https://files.grouplens.org/datasets/movielens/ml-latest-small.zip", {
        "ratings.csv": "aa289ca83157595d0df6aea1be6a4ded676ddc4385472e8313a8ed9805352646",
        "movies.csv": "5a5f32dd9bb3797b8e728a1b98958789d2b13f294a69fdfbc5727f8a9611aa07",
    }),
    Dataset("ml-100k", "https://files.grouplens.org/datasets/movielens/ml-100k.zip", {
        "u.data": "06416e597f82b7342361e41163890c81036900f418ad91315590814211dca490",
        "u.item": "553841ebc7de3a0fd0d6b62a204ea30c1e651aacfb2814c7a6584ac52f2c5701",
    }),
    Dataset("nietzsche", "https://s3.amazonaws.com/text-datasets/nietzsche.txt", {
        "nietzsche.txt": "23cf69874ab69d3d256099ab530ea4be24d47d9675b673bcc67cbcd6298ec647",
    }, archive=False),
]}


def sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(CHUNK), b""):
            h.update(chunk)
    return h.hexdigest()


def _verified(folder: Path, ds: Dataset) -> bool:
    return all((folder / rel).is_file() and sha256(folder / rel) == digest for rel, digest in ds.checksums.items())


def _result(folder: Path, ds: Dataset) -> Path:
    return folder if ds.archive else folder / next(iter(ds.checksums))


def _get(url: str, dest: Path, label: str, progress: bool) -> None:
    try:
        with urllib.request.urlopen(url, timeout=60) as resp, open(dest, "wb") as out:
            total = int(resp.headers.get("Content-Length") or 0) or None
            with tqdm(total=total, unit="B", unit_scale=True, desc=label, disable=not progress) as bar:
                while chunk := resp.read(CHUNK):
                    out.write(chunk)
                    bar.update(len(chunk))
    except urllib.error.HTTPError as e:
        raise XlbridgeInputError(f"{url}: download failed (HTTP {e.code} {e.reason})") from None
    except (urllib.error.URLError, OSError, ValueError) as e:
        reason = getattr(e, "reason", None) or e
        raise XlbridgeInputError(f"{url}: download failed ({reason})") from None


def _unpack(archive: Path, into: Path, url: str) -> None:
    """Unpack a zip, flattening its single top folder (ml-100k.zip holds ml-100k/...)."""
    try:
        with zipfile.ZipFile(archive) as zf:
            members = [i for i in zf.infolist() if not i.is_dir()]
            if sum(i.file_size for i in members) > MAX_UNPACKED:
                raise XlbridgeInputError(f"{url}: archive would unpack to more than {MAX_UNPACKED >> 20} MiB")
            tops = {Path(i.filename).parts[0] for i in members}
            strip = 1 if len(tops) == 1 and all(len(Path(i.filename).parts) > 1 for i in members) else 0
            for info in members:
                parts = Path(info.filename).parts[strip:]
                if not parts or any(p in ("..", "") for p in parts) or Path(info.filename).is_absolute():
                    raise XlbridgeInputError(f"{url}: archive member {info.filename!r} points outside the folder")
                target = into.joinpath(*parts)
                target.parent.mkdir(parents=True, exist_ok=True)
                with zf.open(info) as src, open(target, "wb") as dst:
                    shutil.copyfileobj(src, dst)
    except zipfile.BadZipFile:
        raise XlbridgeInputError(f"{url}: not a zip archive") from None


def fetch(name: str, url: str | None = None, *, progress: bool = True, refresh: bool = False) -> Path:
    """Return the cached dataset `name` (its folder, or the file for single-file datasets),
    downloading and verifying it first if needed. `url` replaces the dataset's usual address
    (a mirror, or a local server in tests)."""
    if name not in DATASETS:
        raise XlbridgeInputError(f"unknown dataset {name!r}; known: {', '.join(sorted(DATASETS))}")
    ds = DATASETS[name]
    final = cache_dir() / name
    if final.is_dir() and not refresh and _verified(final, ds):
        return _result(final, ds)
    url = url or ds.url
    final.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=f".{name}-", dir=final.parent) as tmp:
        staged = Path(tmp) / name
        staged.mkdir()
        if ds.archive:
            _get(url, Path(tmp) / "download.zip", name, progress)
            _unpack(Path(tmp) / "download.zip", staged, url)
        else:
            _get(url, staged / next(iter(ds.checksums)), name, progress)
        for rel, digest in ds.checksums.items():
            if not (staged / rel).is_file():
                raise XlbridgeInputError(f"{url}: the download has no {rel}")
            if (got := sha256(staged / rel)) != digest:
                raise XlbridgeInputError(f"{url}: checksum mismatch for {rel} (sha256 {got[:12]}..., expected {digest[:12]}...)")
        if final.exists():
            shutil.rmtree(final)
        os.replace(staged, final)  # the cache only ever holds a verified copy
    return _result(final, ds)
