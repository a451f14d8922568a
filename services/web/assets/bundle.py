"""The static folder read once at start: each file's bytes, type and gzip, and the folder's
version (a short content hash) that index.html's asset URLs carry."""

from __future__ import annotations

import gzip
import hashlib
import mimetypes
from dataclasses import dataclass
from pathlib import Path

STATIC_DIR = Path(__file__).resolve().parent.parent / "static"
INDEX = "index.html"
# index.html names its assets as `__STATIC__/app.js`; the server writes `/static/<version>`.
PLACEHOLDER = "__STATIC__"
VERSION_LENGTH = 12
# Types worth compressing (images and fonts are compressed already).
COMPRESSIBLE = ("text/", "application/javascript", "application/json", "image/svg+xml")
# Below this size gzip's header costs more than it saves.
MIN_GZIP_BYTES = 256

_TYPES = {
    ".js": "text/javascript",
    ".mjs": "text/javascript",
    ".css": "text/css",
    ".html": "text/html",
    ".json": "application/json",
    ".svg": "image/svg+xml",
    ".txt": "text/plain",
    ".map": "application/json",
}


@dataclass(frozen=True)
class Asset:
    """One file as it is served: its bytes, its content type, and its gzip when worth it."""

    body: bytes
    content_type: str
    gzipped: bytes | None
    etag: str


@dataclass(frozen=True)
class Bundle:
    """The static folder's files by relative path, its version and the rendered index."""

    version: str
    files: dict[str, Asset]
    index: Asset

    @property
    def prefix(self) -> str:
        return f"/static/{self.version}"


def content_type_of(path: str) -> str:
    suffix = Path(path).suffix.lower()
    guessed = _TYPES.get(suffix) or mimetypes.guess_type(path)[0] or "application/octet-stream"
    if guessed.startswith("text/") or guessed in ("application/javascript", "application/json"):
        return f"{guessed}; charset=utf-8"
    return guessed


def make_asset(body: bytes, content_type: str) -> Asset:
    compressible = content_type.startswith(COMPRESSIBLE) and len(body) >= MIN_GZIP_BYTES
    # mtime=0: the same bytes always give the same gzip (reproducible, cache friendly).
    packed = gzip.compress(body, compresslevel=9, mtime=0) if compressible else None
    etag = '"' + hashlib.sha256(body).hexdigest()[:16] + '"'
    return Asset(body=body, content_type=content_type, gzipped=packed, etag=etag)


def folder_version(files: dict[str, bytes]) -> str:
    """A short hash of every file's path and content: a changed file makes a new version."""
    digest = hashlib.sha256()
    for path in sorted(files):
        digest.update(path.encode())
        digest.update(b"\0")
        digest.update(hashlib.sha256(files[path]).digest())
    return digest.hexdigest()[:VERSION_LENGTH]


def load_bundle(root: Path = STATIC_DIR) -> Bundle:
    """Read the folder (hidden files left out), version it and render index.html."""
    raw: dict[str, bytes] = {}
    for path in sorted(root.rglob("*")):
        relative = path.relative_to(root)
        if path.is_file() and not any(part.startswith(".") for part in relative.parts):
            raw[relative.as_posix()] = path.read_bytes()
    if INDEX not in raw:
        raise FileNotFoundError(f"{root / INDEX} is missing")
    version = folder_version(raw)
    files = {path: make_asset(body, content_type_of(path)) for path, body in raw.items()}
    page = raw[INDEX].decode("utf-8").replace(PLACEHOLDER, f"/static/{version}")
    index = make_asset(page.encode("utf-8"), content_type_of(INDEX))
    return Bundle(version=version, files=files, index=index)
