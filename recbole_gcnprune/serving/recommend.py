"""Serving an export: ``load(export_dir).recommend(user_tokens, k)``, with numpy alone.

Every file is checked against the manifest (SHA-256 and size) before it is used, arrays are
memory-mapped with ``allow_pickle=False``, and neither torch nor recbole is imported. With FAISS
installed (``pip install faiss-cpu``) the items go into an exact inner-product index
(``IndexFlatIP``, a float32 copy) that answers the searches; without it numpy scores every item.
"""

import os
from collections import namedtuple

import numpy as np

from recbole_gcnprune.serving import manifest as files
from recbole_gcnprune.serving.errors import REEXPORT, ExportFolderError, KeyFileError, \
    UnknownUserError
from recbole_gcnprune.serving.quantize import PER_CHANNEL, dequantize, stored_width
from recbole_gcnprune.serving.ranking import top_k
from recbole_gcnprune.serving.user_ids import HASH_NAME, hash_token, key_check, read_key

Recommendation = namedtuple("Recommendation", ["user", "items", "scores"])
ITEM_BLOCK = 1 << 16  # items dequantized and scored at a time (bounded extra memory)
STORED = {"float32": np.dtype(np.float32), "float16": np.dtype(np.float16),
          "int8": np.dtype(np.int8), "int8-channel": np.dtype(np.int8),
          "int4": np.dtype(np.uint8)}  # int4: two values a byte
INTEGER = "integer"  # the seen-item arrays: any integer type


def load(export_dir, key_file=None, use_faiss=None):
    """The export in ``export_dir``, checked and ready to serve.

    Args:
        key_file: the key a hashed export (``export --hash-user-ids``) was made with; raw user
            tokens are then hashed before lookup.
        use_faiss: True or False to require or avoid FAISS; None uses it when installed.
    """
    return ServedModel(export_dir, key_file, use_faiss)


class ServedModel:
    """An export's vectors, tokens and seen items, and the top-k search over them."""

    def __init__(self, export_dir, key_file=None, use_faiss=None):
        self.folder = export_dir
        self.manifest = files.read_manifest(export_dir)
        files.check_files(export_dir, self.manifest)
        self.dtype = self.manifest["dtype"]
        self.width = self.manifest["vector_width"]
        self.users, self.users_scale = self._vectors(files.USERS, files.USERS_SCALE, "num_users")
        self.items, self.items_scale = self._vectors(files.ITEMS, files.ITEMS_SCALE, "num_items")
        self.user_tokens = self._tokens(files.USER_TOKENS, "num_users")
        self.item_tokens = self._tokens(files.ITEM_TOKENS, "num_items")
        self.user_rows = self._rows_of(files.USER_TOKENS, self.user_tokens)
        self.seen_indptr, self.seen_items = self._seen()
        self.key = self._key(key_file)
        self.index = _faiss_index(self, use_faiss)

    # ------------------------------------------------------------------------------ loading
    def _path(self, name):
        return os.path.join(self.folder, name)

    def _array(self, name, shape, dtype):
        """A checked ``.npy`` file, memory-mapped, never unpickled; its shape must be ``shape``
        (None: any length) and its dtype ``dtype`` (a numpy dtype, or ``INTEGER``: any integer
        type)."""
        path = self._path(name)
        try:
            array = np.load(path, mmap_mode="r", allow_pickle=False)
        except ValueError as error:
            raise ExportFolderError(f"{path} cannot be read as an array ({error}): "
                                    f"{REEXPORT}") from None
        expected = tuple(shape)
        if array.ndim != len(expected) or any(
                want is not None and got != want for got, want in zip(array.shape, expected)):
            shown = str(expected).replace("None", "any")
            raise ExportFolderError(f"{path} has shape {array.shape}, the manifest says "
                                    f"{shown}: {REEXPORT}")
        if not (array.dtype.kind in "iu" if isinstance(dtype, str) else array.dtype == dtype):
            raise ExportFolderError(f"{path} holds {array.dtype} values, not the {dtype} values "
                                    f"an export writes: {REEXPORT}")
        return array

    def _vectors(self, name, scale_name, count_key):
        rows = self.manifest[count_key]
        vectors = self._array(name, (rows, stored_width(self.dtype, self.width)),
                              STORED[self.dtype])
        scales = None
        if self.dtype in files.SCALED_DTYPES:
            count = self.width if self.dtype in PER_CHANNEL else rows
            scales = self._array(scale_name, (count,), np.dtype(np.float32))
        return vectors, scales

    def _tokens(self, name, count_key):
        try:
            with open(self._path(name), encoding="utf-8") as f:
                tokens = f.read().split("\n")[:-1]
        except UnicodeDecodeError:
            raise ExportFolderError(f"{self._path(name)} is not UTF-8 text: {REEXPORT}") from None
        if len(tokens) != self.manifest[count_key]:
            raise ExportFolderError(f"{self._path(name)} holds {len(tokens)} tokens, the "
                                    f"manifest says {self.manifest[count_key]}: {REEXPORT}")
        return tokens

    def _rows_of(self, name, tokens):
        """``{token: row}``; a token given twice is refused (its lists would be another's)."""
        rows = {token: row for row, token in enumerate(tokens)}
        if len(rows) != len(tokens):
            raise ExportFolderError(f"{self._path(name)} holds a token more than once: "
                                    f"{REEXPORT}")
        return rows

    def _seen(self):
        """``(indptr, items)``: each user's seen item rows, CSR, checked to be one: ``indptr``
        starts at 0, never decreases and ends at ``len(items)``; items are in
        ``0..num_items-1``."""
        indptr = self._array(files.SEEN_INDPTR, (self.manifest["num_users"] + 1,), INTEGER)
        items = self._array(files.SEEN_ITEMS, (None,), INTEGER)
        path, n_items = self._path(files.SEEN_INDPTR), self.manifest["num_items"]
        if indptr[0] != 0 or np.any(indptr[1:] < indptr[:-1]) or indptr[-1] != len(items):
            raise ExportFolderError(f"{path} is not a CSR index of {files.SEEN_ITEMS} (it must "
                                    f"start at 0, never decrease and end at {len(items)}): "
                                    f"{REEXPORT}")
        if len(items) and (items.min() < 0 or items.max() >= n_items):
            raise ExportFolderError(f"{self._path(files.SEEN_ITEMS)} holds item rows outside "
                                    f"0..{n_items - 1}: {REEXPORT}")
        return indptr, items

    def _key(self, key_file):
        """The key that hashes raw user tokens (hashed exports), checked against the export's."""
        if key_file is None:
            return None
        if self.manifest["user_ids"] != HASH_NAME:
            raise KeyFileError(f"{self.folder} holds raw user tokens, not hashed ones: drop the "
                               "key file")
        key = read_key(key_file)
        if key_check(key) != self.manifest["key_check"]:
            raise KeyFileError(f"key file {key_file} is not the key {self.folder} was exported "
                               "with: pass the key file given to export --hash-user-ids")
        return key

    # ------------------------------------------------------------------------------ vectors
    def user_vectors(self, rows):
        """float32 vectors of the user ``rows`` (0-based export rows)."""
        rows = np.asarray(rows, dtype=np.int64)
        return dequantize(self.users[rows], self._scales(self.users_scale, rows), self.dtype,
                          self.width)

    def item_vectors(self, start=0, stop=None):
        """float32 vectors of items ``start:stop``."""
        block = slice(start, stop)
        return dequantize(self.items[block], self._scales(self.items_scale, block), self.dtype,
                          self.width)

    def _scales(self, scales, rows):
        """The scales that dequantize ``rows``: theirs, or every channel's."""
        if scales is None or self.dtype in PER_CHANNEL:
            return scales
        return scales[rows]

    def seen(self, row):
        """Export item rows the user of ``row`` has seen (train and valid interactions)."""
        return np.asarray(self.seen_items[self.seen_indptr[row]:self.seen_indptr[row + 1]])

    # ------------------------------------------------------------------------------ scoring
    def row_of(self, token):
        """The export row of a user token (hashed first when a key was given)."""
        lookup = hash_token(self.key, token) if self.key is not None else token
        row = self.user_rows.get(lookup)
        if row is None:
            raise UnknownUserError(f"unknown user {token!r}: {self._unknown_user_hint()}")
        return row

    def _unknown_user_hint(self):
        if self.manifest["user_ids"] == HASH_NAME and self.key is None:
            return ("this export's user ids are HMAC-SHA256 digests: pass the key file "
                    "(--key-file KEYFILE) to hash raw tokens")
        return f"pass a RecBole user token of {self.manifest['dataset']}'s data"

    def scores(self, rows):
        """Dot-product scores (len(rows) x num_items, float32) of the user ``rows``."""
        users = self.user_vectors(rows)
        n_items = self.manifest["num_items"]
        out = np.empty((len(users), n_items), np.float32)
        for start in range(0, n_items, ITEM_BLOCK):
            stop = min(start + ITEM_BLOCK, n_items)
            out[:, start:stop] = users @ self.item_vectors(start, stop).T
        return out

    def top_item_rows(self, rows, k, exclude_seen=False):
        """``[(item rows, scores)]`` per user row: the ``k`` best, ties to the lower row."""
        if self.index is not None:
            return self._faiss_top(rows, k, exclude_seen)
        scores = self.scores(rows)
        if exclude_seen:
            for i, row in enumerate(rows):
                scores[i, self.seen(row)] = -np.inf
        return top_k(scores, k)

    def _faiss_top(self, rows, k, exclude_seen):
        """The index's best ``k`` (plus as many as a user has seen, when they are excluded),
        re-ranked by the stable rule."""
        extra = max((len(self.seen(row)) for row in rows), default=0) if exclude_seen else 0
        depth = min(int(k) + extra, self.manifest["num_items"])
        values, indices = self.index.search(np.ascontiguousarray(self.user_vectors(rows)), depth)
        found = []
        for row, row_values, row_indices in zip(rows, values, indices):
            keep = row_indices >= 0
            if exclude_seen:
                keep &= ~np.isin(row_indices, self.seen(row))
            order = np.lexsort((row_indices[keep], -row_values[keep]))[:k]
            found.append((row_indices[keep][order], row_values[keep][order]))
        return found

    def recommend(self, user_tokens, k=20, exclude_seen=False):
        """The ``k`` best items of each user token: a list of ``Recommendation(user, items,
        scores)`` (item tokens and float scores, best first). ``exclude_seen`` leaves out the
        user's train and valid items. An unknown token is a one-line ``UnknownUserError``."""
        if isinstance(user_tokens, str):
            user_tokens = [user_tokens]
        rows = [self.row_of(token) for token in user_tokens]
        return [Recommendation(token, [self.item_tokens[i] for i in item_rows.tolist()],
                               scores.tolist())
                for token, (item_rows, scores) in zip(user_tokens, self.top_item_rows(
                    rows, k, exclude_seen))]


def _faiss_index(served, use_faiss):
    """An exact inner-product FAISS index of ``served``'s items, or None without FAISS (or
    when ``use_faiss`` is False)."""
    if use_faiss is False:
        return None
    try:
        import faiss
    except ImportError:
        if use_faiss:
            raise ImportError("use_faiss=True needs FAISS: pip install faiss-cpu") from None
        return None
    index = faiss.IndexFlatIP(served.width)
    index.add(np.ascontiguousarray(served.item_vectors(), dtype=np.float32))
    return index
