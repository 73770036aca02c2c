"""An export folder's ``manifest.json``: what it holds, and the SHA-256 and size of every other
file, checked before any file is used. Standard library only (no torch, no recbole)."""

import hashlib
import json
import os

from recbole_gcnprune.serving.errors import REEXPORT, ExportFolderError

MANIFEST = "manifest.json"
FORMAT = "recbole-gcnprune-export"
FORMAT_VERSION = 1
USERS, ITEMS = "users.npy", "items.npy"
USERS_SCALE, ITEMS_SCALE = "users_scale.npy", "items_scale.npy"
USER_TOKENS, ITEM_TOKENS = "user_tokens.txt", "item_tokens.txt"
SEEN_INDPTR, SEEN_ITEMS = "seen_indptr.npy", "seen_items.npy"
EXPORT_FILES = (USERS, ITEMS, USERS_SCALE, ITEMS_SCALE, USER_TOKENS, ITEM_TOKENS, SEEN_INDPTR,
                SEEN_ITEMS, MANIFEST)
_CHUNK = 1 << 20


def sha256_of(path):
    """Hex SHA-256 of the file at ``path``, read in chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(_CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


def describe_files(folder, names):
    """``{name: {"sha256", "bytes"}}`` of the files ``names`` in ``folder``."""
    return {name: {"sha256": sha256_of(os.path.join(folder, name)),
                   "bytes": os.path.getsize(os.path.join(folder, name))} for name in names}


def read_manifest(folder):
    """The manifest of the export in ``folder``; a missing or unreadable one is a one-line
    :class:`ExportFolderError`."""
    path = os.path.join(folder, MANIFEST)
    if not os.path.isfile(path):
        raise ExportFolderError(f"{path} not found: not an export folder, or an interrupted "
                                f"export: {REEXPORT}")
    try:
        with open(path, encoding="utf-8") as f:
            manifest = json.load(f)
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise ExportFolderError(f"{path} is not valid JSON ({error}): {REEXPORT}") from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise ExportFolderError(f"{path} is not a {FORMAT} manifest: {REEXPORT}")
    if manifest.get("format_version") != FORMAT_VERSION:
        raise ExportFolderError(f"{path} has format_version {manifest.get('format_version')!r}, "
                                f"this code reads {FORMAT_VERSION}: {REEXPORT}")
    return manifest


def check_files(folder, manifest):
    """Refuse (one line, naming the file) any file of the manifest that is missing, of another
    size, or of another SHA-256 than when it was exported."""
    for name, expected in sorted(manifest.get("files", {}).items()):
        path = os.path.join(folder, _plain_name(name, folder))
        if not os.path.isfile(path):
            raise ExportFolderError(f"{path} is missing: {REEXPORT}")
        size = os.path.getsize(path)
        if size != expected["bytes"]:
            raise ExportFolderError(f"{path} is truncated or changed ({size} bytes, the manifest "
                                    f"says {expected['bytes']}): {REEXPORT}")
        if sha256_of(path) != expected["sha256"]:
            raise ExportFolderError(f"{path} was changed since it was exported (its SHA-256 "
                                    f"differs from the manifest's): {REEXPORT}")


def _plain_name(name, folder):
    """``name`` if it names a file directly in the folder (never a path out of it)."""
    if os.path.basename(name) != name or name in ("", ".", ".."):
        raise ExportFolderError(f"{os.path.join(folder, MANIFEST)} lists {name!r}, not a file "
                                f"name of the folder: {REEXPORT}")
    return name
