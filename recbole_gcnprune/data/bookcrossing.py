r"""Book-Crossing ratings dump -> RecBole atomic file ``book-crossing.inter``.

Input: ``BX-Book-Ratings.csv`` of Ziegler et al. (WWW 2005), plain, ``.csv.xz``, ``.csv.gz`` or
inside ``BX-CSV-Dump.zip``: latin-1, header ``"User-ID";"ISBN";"Book-Rating"``, every field
quoted, CRLF or LF line ends. A row is split on the three characters ``";"`` (as in the dump's
README; 14 ISBNs hold a literal ``\"``, which a CSV reader mis-parses). Every row is read; the
work is done with numpy on the raw bytes (latin-1 is one byte per character), no per-line loop.

Output: ``user_id:token  item_id:token  rating:float`` (tab-separated, ASCII), one row per
(user, ISBN), written to a temp file and renamed into place, so no half-written file is ever left.

Rules (measured on the complete dump, 1,149,780 rows, 105,283 users, 340,556 raw ISBNs):

* User-ID must be decimal digits (written back as the integer), Book-Rating an integer 0-10
  (0 = implicit interaction); anything else, a wrong field count or header, or a truncated or
  corrupt archive raises :class:`DataFormatError` naming the file and the first bad line, before
  anything is written.
* ISBN normalisation: keep only the ASCII letters and digits of the field, then uppercase
  (quotes, backslashes, spaces, hyphens, dots, ``=``, ``/``, stray latin-1 bytes... are dropped;
  a lowercase check digit ``x`` becomes ``X``). It changes 1,778 rows (1,424 distinct raw ISBNs)
  and merges 1,307 raw spellings into 650 ISBNs: 340,556 -> 339,899 ISBNs. A row whose ISBN has
  no letter or digit is dropped (none in the dump).
* Duplicate (user, ISBN) pairs (none in the raw dump; 13 pairs of 2 rows after normalisation):
  the row with the highest rating is kept (an explicit rating beats an implicit 0; the first
  row if tied), so 13 rows go. Result: 1,149,767 interactions (433,666 explicit, 716,101
  implicit), 105,283 users, 339,899 items, in file order.

Command line (for a dump kept elsewhere): ``python -m recbole_gcnprune.data.bookcrossing
SRC_FILE OUT_DIR`` writes ``OUT_DIR/book-crossing.inter``; errors are one line, exit status 2.
"""

import argparse
import io
import lzma
import os
import sys
import time
import zipfile
import zlib
from dataclasses import dataclass

import numpy as np
import pandas as pd

from recbole_gcnprune.atomic import atomic_write_bytes
from recbole_gcnprune.errors import DataFormatError, DatasetNotFoundError, UserInputError

DATASET = "book-crossing"
HEADER = b'"User-ID";"ISBN";"Book-Rating"'
INTER_HEADER = b"user_id:token\titem_id:token\trating:float\n"
RATINGS_MEMBER = "BX-Book-Ratings.csv"
# Looked for, in this order, in the dataset folder.
DUMP_NAMES = (RATINGS_MEMBER, RATINGS_MEMBER + ".xz", RATINGS_MEMBER + ".gz", "BX-CSV-Dump.zip")
MAX_USER_DIGITS = 18  # fits int64
MAX_ISBN_BYTES = 32  # longer means a broken row (the dump's longest is 14)
QUOTE, SEMICOLON, NEWLINE, CR = 34, 59, 10, 13

DECOMPRESS_CHUNK = 1 << 18  # compressed bytes fed to the decompressor at a time


# ----------------------------------------------------------------------------------- reading
def read_dump(path):
    """The decompressed bytes of ``path`` (``.xz``, ``.gz``, ``.zip`` or plain)."""
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError as err:
        raise DatasetNotFoundError(f"cannot read {path}: {err.strerror}") from None
    name = path.lower()
    if name.endswith(".xz"):
        return _decompress(path, data, lzma.LZMADecompressor, "xz", lzma.LZMAError)
    if name.endswith(".gz"):
        return _decompress(path, data, lambda: zlib.decompressobj(16 + zlib.MAX_WBITS), "gzip",
                           zlib.error)
    if name.endswith(".zip"):
        return _read_zip(path, data)
    return data


def _decompress(path, data, new_decompressor, kind, error_type):
    """Decompress every (concatenated) stream; truncation and corruption name the line."""
    out, chunk = [], DECOMPRESS_CHUNK
    while data.strip(b"\0"):
        decompressor = new_decompressor()
        for start in range(0, len(data), chunk):
            try:
                out.append(decompressor.decompress(data[start:start + chunk]))
            except error_type as err:
                line = b"".join(out).count(b"\n") + 1
                raise DataFormatError(
                    f"{path}, line {line} or after: corrupt {kind} data ({err})") from None
            if decompressor.eof:  # the next stream: what this chunk left, then the rest
                data = decompressor.unused_data + data[start + chunk:]
                break
        if not decompressor.eof:
            line = b"".join(out).count(b"\n") + 1
            raise DataFormatError(
                f"{path}, line {line}: {kind} data ends before its end-of-stream marker "
                "(truncated file); copy or download it again")
    return b"".join(out)


def _read_zip(path, data):
    """``BX-Book-Ratings.csv`` from a ``BX-CSV-Dump.zip``."""
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            members = [m for m in archive.namelist() if m.rsplit("/", 1)[-1] == RATINGS_MEMBER]
            if not members:
                raise DataFormatError(f"{path}: no {RATINGS_MEMBER} inside the zip archive")
            return archive.read(members[0])
    except (zipfile.BadZipFile, zlib.error, EOFError, lzma.LZMAError) as err:
        raise DataFormatError(f"{path}: unreadable zip archive, truncated or corrupt ({err})"
                              ) from None


# ----------------------------------------------------------------------------------- parsing
def _line_bounds(buf):
    """Start and end (exclusive, without ``\\r``) of every line; a final newline adds none."""
    breaks = np.flatnonzero(buf == NEWLINE)
    starts = np.concatenate(([0], breaks + 1))
    ends = np.concatenate((breaks, [len(buf)]))
    if starts[-1] == len(buf):
        starts, ends = starts[:-1], ends[:-1]
    ends = ends - ((ends > starts) & (buf[np.maximum(ends - 1, 0)] == CR))
    return starts, ends


def _line_text(buf, starts, ends, i, limit=80):
    text = buf[starts[i]:ends[i]].tobytes().decode("latin-1")
    return repr(text if len(text) <= limit else text[:limit] + "...")


def _fail(path, buf, starts, ends, row, what):
    """Raise for body row ``row`` (``starts``/``ends`` include the header line)."""
    text = _line_text(buf, starts, ends, row + 1)
    raise DataFormatError(f"{path}, line {row + 2}: {what}, found {text}")


def _check_header(path, buf, starts, ends):
    if len(starts) == 0:
        raise DataFormatError(f"{path}, line 1: empty file, expected the header "
                              f"{HEADER.decode()}")
    if buf[starts[0]:ends[0]].tobytes() != HEADER:
        raise DataFormatError(
            f"{path}, line 1: expected the Book-Crossing header {HEADER.decode()} "
            f"(';'-separated, quoted fields), found {_line_text(buf, starts, ends, 0)}")


def _gather(buf, first, length, width):
    """``n x width`` bytes ``buf[first:first+length]`` per row, zero past each row's length."""
    cols = np.arange(width, dtype=np.int32 if len(buf) < 2**31 - width else np.int64)
    inside = cols < length[:, None]
    idx = np.minimum(first.astype(cols.dtype)[:, None] + cols, len(buf) - 1)
    return buf[idx] * inside, inside


def _integers(buf, first, length, max_digits):
    """Values of the decimal fields, and a mask of fields that are not 1..max_digits digits."""
    width = int(min(length.max(initial=1), max_digits))
    digits, inside = _gather(buf, first, np.minimum(length, width), width)
    digits = digits.astype(np.int64) - ord("0")
    bad = (length < 1) | (length > max_digits) | (inside & ((digits < 0) | (digits > 9))).any(1)
    value = np.zeros(len(length), dtype=np.int64)
    for k in range(width):  # Horner's rule, one digit column at a time
        value = np.where(inside[:, k], value * 10 + digits[:, k], value)
    return value, bad


def _separators(buf):
    """Start of every ``";"``, matched left to right without overlap, as ``str.split`` does."""
    seps = np.flatnonzero((buf[:-2] == QUOTE) & (buf[1:-1] == SEMICOLON) & (buf[2:] == QUOTE))
    run_start = np.ones(len(seps), dtype=bool)
    run_start[1:] = np.diff(seps) != 2  # in a chain like ";";" only every other match counts
    in_run = np.arange(len(seps)) - np.flatnonzero(run_start)[np.cumsum(run_start) - 1]
    return seps[in_run % 2 == 0]


def _first_error(checks):
    """``(row, what)`` of the earliest row flagged by ``checks`` (``[(mask, what)]``), or None."""
    found = [(int(np.argmax(mask)), what) for mask, what in checks if mask.any()]
    return min(found, key=lambda hit: hit[0]) if found else None


def parse(data, path="<bytes>"):
    """Validate the dump's bytes; returns User-IDs, raw ISBNs (``n x width`` NUL-padded bytes) and
    ratings. An error names the first bad line."""
    buf = np.frombuffer(data, dtype=np.uint8)
    all_starts, all_ends = _line_bounds(buf)
    _check_header(path, buf, all_starts, all_ends)
    seps = _separators(buf)
    per_line = np.bincount(np.searchsorted(all_starts, seps, side="right") - 1,
                           minlength=len(all_starts))[1:]
    if len(per_line) == 0:
        raise DataFormatError(f"{path}, line 2: no ratings after the header")
    miscounted = per_line != 2
    n = int(np.argmax(miscounted)) if miscounted.any() else len(per_line)  # rows before it
    starts, ends = all_starts[1:n + 1], all_ends[1:n + 1]
    sep1, sep2 = seps[2:2 + 2 * n].reshape(-1, 2).T
    user_len, isbn_len, rating_len = sep1 - starts - 1, sep2 - sep1 - 3, ends - sep2 - 4
    quoted = (buf[starts] == QUOTE) & (buf[np.maximum(ends - 1, 0)] == QUOTE)
    user, bad_user = _integers(buf, starts + 1, user_len, MAX_USER_DIGITS)
    rating, bad_rating = _integers(buf, sep2 + 3, rating_len, 2)
    error = _first_error([
        (~quoted | (user_len < 0) | (isbn_len < 0) | (rating_len < 0),
         'expected 3 quoted fields "User-ID";"ISBN";"Book-Rating"'),
        (bad_user, "User-ID must be decimal digits"),
        (bad_rating | (rating > 10), "Book-Rating must be an integer 0-10"),
        (isbn_len > MAX_ISBN_BYTES, f"ISBN longer than {MAX_ISBN_BYTES} bytes"),
    ])
    if error is None and n < len(per_line):
        error = (n, 'expected 3 quoted fields separated by ";"')
    if error is not None:
        _fail(path, buf, all_starts, all_ends, *error)
    isbn, _ = _gather(buf, sep1 + 3, isbn_len, max(int(isbn_len.max(initial=0)), 1))
    return user, isbn, rating.astype(np.int8)


# ----------------------------------------------------------------- normalising, de-duplicating
def normalise_isbns(isbn):
    """Keep the ASCII letters and digits of each row (``n x width`` NUL-padded bytes), uppercased,
    shifted left; returns the normalised rows and a mask of the rows that changed."""
    lower = (isbn >= ord("a")) & (isbn <= ord("z"))
    upper = (isbn >= ord("A")) & (isbn <= ord("Z"))
    keep = lower | upper | ((isbn >= ord("0")) & (isbn <= ord("9")))
    out = np.where(keep, np.where(lower, isbn - 32, isbn), 0).astype(np.uint8)
    gaps = np.flatnonzero(((out == 0) & (isbn != 0)).any(axis=1))  # rows that lost a byte
    order = np.argsort(~keep[gaps], axis=1, kind="stable")
    out[gaps] = np.take_along_axis(out[gaps], order, axis=1)
    return out, (out != isbn).any(axis=1)


def factorize_rows(rows):
    """Codes of the distinct rows of an ``n x width`` uint8 matrix (numbered in order of first
    appearance) and the index of each code's first row; hashing 8-byte words, no string sort."""
    padded = np.zeros((len(rows), -(-rows.shape[1] // 8) * 8), dtype=np.uint8)
    padded[:, : rows.shape[1]] = rows
    codes = np.zeros(len(rows), dtype=np.int64)
    for word in padded.view(np.uint64).T:
        word_code, uniques = pd.factorize(word)
        codes = pd.factorize(codes * len(uniques) + word_code)[0]
    first = np.ones(len(codes), dtype=bool)
    first[1:] = codes[1:] > np.maximum.accumulate(codes)[:-1]
    return codes, np.flatnonzero(first)


def best_per_pair(user_code, item_code, rating):
    """Row indices, in file order, keeping one row per (user, item): the highest rating, the
    first such row if tied."""
    key = user_code.astype(np.int64) * (int(item_code.max(initial=0)) + 1) + item_code
    order = np.lexsort((-rating.astype(np.int16), key))
    first = np.ones(len(order), dtype=bool)
    first[1:] = key[order][1:] != key[order][:-1]
    return np.sort(order[first])


# ------------------------------------------------------------------------------------ writing
def _digit_bytes(values):
    """Non-negative integers as ``n x width`` ASCII digits, right-aligned, NUL-padded."""
    top = int(values.max(initial=0))
    dtype = np.int32 if top < 2**31 else np.int64
    width = len(str(top))
    powers = 10 ** np.arange(width - 1, -1, -1, dtype=dtype)
    digits = (values.astype(dtype)[:, None] // powers) % 10
    leading = np.cumsum(digits != 0, axis=1) == 0
    leading[:, -1] = False
    return np.where(leading, 0, digits + ord("0")).astype(np.uint8)


def format_inter(user, isbn, rating):
    """The atomic file's bytes: header, then ``user<TAB>isbn<TAB>rating`` rows (``isbn``:
    ``n x width`` NUL-padded bytes; NULs are dropped)."""
    column = np.full((len(user), 1), ord("\t"), np.uint8)
    newline = np.full((len(user), 1), NEWLINE, np.uint8)
    table = np.hstack([_digit_bytes(user), column, isbn, column, _digit_bytes(rating), newline])
    table = table.ravel()
    return INTER_HEADER + table[table != 0].tobytes()


# --------------------------------------------------------------------------------- conversion
@dataclass
class Report:
    """What a conversion read, changed and wrote."""

    source: str
    output: str
    rows: int  # read
    users: int
    raw_isbns: int
    isbn_changed_rows: int  # normalisation
    isbn_changed_raw: int
    merged_spellings: int
    merged_into: int
    empty_isbn_rows: int  # dropped
    duplicate_rows: int
    interactions: int  # written
    explicit: int
    kept_users: int
    items: int
    seconds: float

    def summary(self):
        return (
            f"{self.source}: {self.rows:,} rows, {self.users:,} users, {self.raw_isbns:,} raw "
            f"ISBNs; normalisation changed {self.isbn_changed_rows:,} rows "
            f"({self.isbn_changed_raw:,} raw ISBNs), merged {self.merged_spellings:,} spellings "
            f"into {self.merged_into:,} ISBNs, dropped {self.empty_isbn_rows:,} rows without an "
            f"ISBN and {self.duplicate_rows:,} duplicate (user, ISBN) rows -> {self.output}: "
            f"{self.interactions:,} interactions ({self.explicit:,} explicit), {self.kept_users:,} "
            f"users, {self.items:,} items in {self.seconds:.1f} s"
        )


def convert(src, out_dir):
    """Convert the dump ``src`` into ``out_dir/book-crossing.inter``; returns a :class:`Report`."""
    began = time.perf_counter()
    user, isbn, rating = parse(read_dump(src), src)
    raw_code, raw_first = factorize_rows(isbn)  # normalise each distinct ISBN once
    norm_rows, changed = normalise_isbns(isbn[raw_first])
    norm_code, norm_first = factorize_rows(norm_rows)
    spellings = np.bincount(norm_code)[norm_rows[norm_first].any(axis=1)]
    item_code = norm_code[raw_code]
    rows = np.flatnonzero(norm_rows[raw_code].any(axis=1))
    user_code, users = pd.factorize(user)
    keep = rows[best_per_pair(user_code[rows], item_code[rows], rating[rows])]
    output = os.path.join(out_dir, f"{DATASET}.inter")
    atomic_write_bytes(output, format_inter(user[keep], norm_rows[raw_code[keep]], rating[keep]))
    return Report(
        source=src, output=output, rows=len(raw_code), users=len(users),
        raw_isbns=len(raw_first), isbn_changed_rows=int(changed[raw_code].sum()),
        isbn_changed_raw=int(changed.sum()), merged_spellings=int(spellings[spellings > 1].sum()),
        merged_into=int((spellings > 1).sum()), empty_isbn_rows=len(raw_code) - len(rows),
        duplicate_rows=len(rows) - len(keep), interactions=len(keep),
        explicit=int((rating[keep] > 0).sum()), kept_users=len(np.unique(user_code[keep])),
        items=len(np.unique(item_code[keep])), seconds=time.perf_counter() - began,
    )


# ---------------------------------------------------------------------- dataset folder and CLI
def find_dump(folder):
    """The first of :data:`DUMP_NAMES` present in ``folder``, or ``None``."""
    for name in DUMP_NAMES:
        path = os.path.join(folder, name)
        if os.path.isfile(path):
            return path
    return None


def convert_folder(dataset_dir):
    """The ``CONVERTERS`` hook: convert a dump found in ``dataset_dir``; ``False`` when there is
    none."""
    dump = find_dump(dataset_dir)
    if dump is None:
        return False
    # One line on stderr says what was written (also when RecBole's logger is not set up).
    print(f"converted {convert(dump, dataset_dir).summary()}", file=sys.stderr, flush=True)
    return True


def supply_hint(dataset_dir):
    """What to put where when the dataset is missing (the end of the one-line error)."""
    return (f"put BX-Book-Ratings.csv (or .csv.xz/.csv.gz) or BX-CSV-Dump.zip in {dataset_dir} "
            "(converted on first use), or convert a dump kept elsewhere: python -m "
            f"recbole_gcnprune.data.bookcrossing SRC_FILE {dataset_dir}")


class _OneLineParser(argparse.ArgumentParser):
    def error(self, message):
        self.exit(2, f"error: {message} (usage: python -m recbole_gcnprune.data.bookcrossing "
                     "SRC_FILE OUT_DIR)\n")


def main(argv=None):
    parser = _OneLineParser(
        prog="python -m recbole_gcnprune.data.bookcrossing",
        description="Convert the Book-Crossing ratings dump into RecBole's book-crossing.inter.",
    )
    parser.add_argument("src", metavar="SRC_FILE",
                        help="BX-Book-Ratings.csv[.xz|.gz] or BX-CSV-Dump.zip (or a folder of one)")
    parser.add_argument("out_dir", metavar="OUT_DIR",
                        help="folder for book-crossing.inter (DATA_PATH/book-crossing)")
    args = parser.parse_args(argv)
    try:
        src = find_dump(args.src) if os.path.isdir(args.src) else args.src
        if src is None:
            raise DatasetNotFoundError(f"no {' / '.join(DUMP_NAMES)} in {args.src}")
        print(convert(src, args.out_dir).summary())
    except UserInputError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    except OSError as err:
        print(f"error: cannot write {args.out_dir}: {err.strerror or err}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
