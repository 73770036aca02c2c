"""An export folder's ``manifest.json``: what it holds, and the SHA-256 and size of every other
file, checked before any file is used. Standard library only (no torch, no recbole)."""

import hashlib
import json
import os
import re

from recbole_gcnprune.serving.errors import REEXPORT, ExportFolderError
from recbole_gcnprune.serving.user_ids import HASH_NAME

MANIFEST = "manifest.json"
FORMAT = "recbole-gcnprune-export"
FORMAT_VERSION = 1
USERS, ITEMS = "users.npy", "items.npy"
USERS_SCALE, ITEMS_SCALE = "users_scale.npy", "items_scale.npy"
USER_TOKENS, ITEM_TOKENS = "user_tokens.txt", "item_tokens.txt"
SEEN_INDPTR, SEEN_ITEMS = "seen_indptr.npy", "seen_items.npy"
EXPORT_FILES = (USERS, ITEMS, USERS_SCALE, ITEMS_SCALE, USER_TOKENS, ITEM_TOKENS, SEEN_INDPTR,
                SEEN_ITEMS, MANIFEST)
DTYPES = ("float32", "float16", "int8", "int8-channel", "int4")  # how vectors are stored
# stored with scales (users_scale.npy, items_scale.npy): per row, or per channel (int8-channel)
SCALED_DTYPES = ("int8", "int8-channel", "int4")
RAW_IDS = "raw"
_CHUNK = 1 << 20
_SHA256 = re.compile(r"[0-9a-f]{64}")
_KEY_CHECK = re.compile(r"[0-9a-f]{16}")


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
    """The manifest of the export in ``folder``, its fields checked (types and ranges of what
    the loader reads); a missing, unreadable or malformed one is a one-line
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
        version = _shown(manifest.get("format_version"))
        raise ExportFolderError(f"{path} has format_version {version}, this code reads "
                                f"{FORMAT_VERSION}: {REEXPORT}")
    _check_fields(path, manifest)
    return manifest


def _is_count(value, least):
    return isinstance(value, int) and not isinstance(value, bool) and value >= least


def _is_name(value):
    return isinstance(value, str) and bool(value)


# field -> (is_valid, what a valid value is)
FIELDS = {
    "model": (_is_name, "a model name"),
    "dataset": (_is_name, "a dataset name"),
    "dtype": (lambda v: v in DTYPES, f"one of {', '.join(DTYPES)}"),
    "vector_width": (lambda v: _is_count(v, 1), "a positive integer"),
    "num_users": (lambda v: _is_count(v, 1), "a positive integer"),
    "num_items": (lambda v: _is_count(v, 1), "a positive integer"),
    "user_ids": (lambda v: v in (RAW_IDS, HASH_NAME), f"{RAW_IDS!r} or {HASH_NAME!r}"),
    "files": (lambda v: isinstance(v, dict), "an object of file names"),
}


def _shown(value):
    """``repr(value)``, cut to a readable length."""
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _check_fields(path, manifest):
    """One line naming the first field the loader reads that is absent or out of range."""
    for name, (is_valid, what) in FIELDS.items():
        if name not in manifest:
            raise ExportFolderError(f"{path} has no {name!r} field: {REEXPORT}")
        if not is_valid(manifest[name]):
            raise ExportFolderError(f"{path} has {name} {_shown(manifest[name])}, not {what}: "
                                    f"{REEXPORT}")
    if manifest["user_ids"] == HASH_NAME and not (
            isinstance(manifest.get("key_check"), str)
            and _KEY_CHECK.fullmatch(manifest["key_check"])):
        raise ExportFolderError(f"{path} has key_check {_shown(manifest.get('key_check'))}, not "
                                f"16 hex digits (its user ids are {HASH_NAME}): {REEXPORT}")
    _check_low_rank(path, manifest)
    folder = os.path.dirname(path)
    for name, entry in manifest["files"].items():
        _plain_name(name, folder)
        if not (isinstance(entry, dict) and _is_count(entry.get("bytes"), 0)
                and isinstance(entry.get("sha256"), str) and _SHA256.fullmatch(entry["sha256"])):
            raise ExportFolderError(f"{path} lists {name} as {_shown(entry)}, not "
                                    "{\"sha256\": 64 hex digits, \"bytes\": a size}: " + REEXPORT)


def _check_low_rank(path, manifest):
    """``low_rank`` (read by ``verify``) is absent, null, or the approximation of a wider model
    at the vector width."""
    low_rank, width = manifest.get("low_rank"), manifest["vector_width"]
    if low_rank is not None and not (isinstance(low_rank, dict) and low_rank.get("rank") == width
                                     and _is_count(low_rank.get("of_width"), width + 1)):
        raise ExportFolderError(f"{path} has low_rank {_shown(low_rank)}, not null or "
                                "{\"rank\": the vector width, \"of_width\": a larger width}: "
                                + REEXPORT)


def served_files(manifest):
    """Every file the loader opens for an export of ``manifest``'s dtype."""
    scales = (USERS_SCALE, ITEMS_SCALE) if manifest["dtype"] in SCALED_DTYPES else ()
    return (USERS, ITEMS, *scales, USER_TOKENS, ITEM_TOKENS, SEEN_INDPTR, SEEN_ITEMS)


def check_files(folder, manifest):
    """Refuse (one line, naming the file) a file the loader opens that the manifest does not
    list, and any file of the manifest that is missing, of another size, or of another SHA-256
    than when it was exported. ``manifest``: as :func:`read_manifest` gives it."""
    listed = manifest["files"]
    for name in served_files(manifest):
        if name not in listed:
            raise ExportFolderError(f"{os.path.join(folder, MANIFEST)} does not list {name} (its "
                                    f"SHA-256 and size), so {os.path.join(folder, name)} cannot "
                                    f"be checked: {REEXPORT}")
    for name, expected in sorted(listed.items()):
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
    """``name`` if it is one of an export's files (never a path, in or out of the folder)."""
    if name not in EXPORT_FILES or name == MANIFEST:
        raise ExportFolderError(f"{os.path.join(folder, MANIFEST)} lists {_shown(name)}, not a "
                                f"file of an export: {REEXPORT}")
    return name
