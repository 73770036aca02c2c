"""Book-Crossing: the real dump's counts (converted, then filtered by RecBole), corrupt inputs,
the dataset-folder hook and the converter command."""

import gzip
import io
import lzma
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pandas as pd
import pytest

from recbole_gcnprune.data import bookcrossing, resolve
from recbole_gcnprune.data.bookcrossing import convert
from recbole_gcnprune.errors import DataFormatError, DatasetNotFoundError

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"
DUMP = SHARED / "data/book-crossing/BX-Book-Ratings.csv.xz"
BENCH5 = REPO / "properties/variants/book-crossing-bench5.yaml"
needs_shared = pytest.mark.skipif(
    not SHARED.is_dir(),
    reason=f"{SHARED} absent: the real Book-Crossing dump ships in shared/ beside the clone",
)

HEADER = '"User-ID";"ISBN";"Book-Rating"'
ROWS = [
    '"1";"034545104x";"0"',  # lowercase check digit
    '"1";"0-345-45104-X";"7"',  # same ISBN once normalised: the explicit 7 wins over the 0
    '"2";"\\"0432534220\\"";"6"',  # a literal \" as in the real dump
    '"2";"0432534220";"5"',
    '"3";"34980092\xdf4";"10"',  # a latin-1 byte inside the ISBN
    '"3";"B0000ABC";"0"',
]


def dump_bytes(lines, newline="\r\n"):
    return (newline.join(lines) + newline).encode("latin-1")


def write(path, payload):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(payload)
    return str(path)


def read_inter(path):
    return pd.read_csv(path, sep="\t", dtype=str)


# ------------------------------------------------------------------------------ the real dump
@pytest.fixture(scope="module")
def converted(tmp_path_factory):
    """The real dump converted into DATA_PATH/book-crossing/ (once for this module)."""
    if not DUMP.is_file():
        pytest.fail(f"{SHARED} exists but {DUMP} is missing")
    data_path = tmp_path_factory.mktemp("bxdata")
    return data_path, convert(str(DUMP), str(data_path / "book-crossing"))


@needs_shared
def test_real_dump_counts(converted):
    _, report = converted
    assert (report.rows, report.users, report.raw_isbns) == (1_149_780, 105_283, 340_556)
    assert (report.isbn_changed_rows, report.isbn_changed_raw) == (1_778, 1_424)
    assert (report.merged_spellings, report.merged_into) == (1_307, 650)
    assert (report.empty_isbn_rows, report.duplicate_rows) == (0, 13)
    assert (report.interactions, report.kept_users, report.items) == (1_149_767, 105_283, 339_899)
    assert report.explicit == 433_666
    inter = read_inter(report.output)
    assert list(inter.columns) == ["user_id:token", "item_id:token", "rating:float"]
    assert len(inter) == 1_149_767
    assert inter["user_id:token"].nunique() == 105_283
    assert inter["item_id:token"].nunique() == 339_899
    assert inter["item_id:token"].str.fullmatch("[0-9A-Z]+").all()
    assert inter.iloc[0].tolist() == ["276725", "034545104X", "0"]
    assert (inter["rating:float"] == "0").sum() == 1_149_767 - 433_666


@needs_shared
def test_bench5_counts_through_recbole(converted, monkeypatch):
    from recbole.data import create_dataset

    from recbole_gcnprune.config import Config

    data_path, _ = converted
    monkeypatch.setattr(sys, "argv", [sys.argv[0]])  # RecBole also reads --key=value from argv
    config = Config("GCNPruneGAN", "book-crossing", [str(BENCH5)],
                    {"data_path": str(data_path), "use_gpu": False})
    assert config["val_interval"] == {"rating": "[1,10]"}
    dataset = create_dataset(config)
    assert (dataset.inter_num, dataset.user_num - 1, dataset.item_num - 1) == (118_825, 7_033, 9_441)
    assert dataset.inter_feat["rating"].min() >= 1


# ------------------------------------------------------------------ normalisation on a tiny dump
def test_quirks_normalised_and_deduplicated(tmp_path):
    src = write(tmp_path / "BX-Book-Ratings.csv", dump_bytes([HEADER] + ROWS))
    report = convert(src, str(tmp_path / "out"))
    inter = read_inter(report.output)
    assert inter.values.tolist() == [
        ["1", "034545104X", "7"],
        ["2", "0432534220", "6"],
        ["3", "349800924", "10"],
        ["3", "B0000ABC", "0"],
    ]
    assert (report.rows, report.duplicate_rows, report.isbn_changed_rows) == (6, 2, 4)
    assert (report.raw_isbns, report.items, report.merged_spellings, report.merged_into) == (
        6, 4, 4, 2)


def test_rows_split_on_quote_semicolon_quote_like_str_split(tmp_path):
    # '"9";";";"8"' splits into 9 | ; | 8 (matches do not overlap); ';' has no letter or digit
    src = write(tmp_path / "x.csv", dump_bytes([HEADER, ROWS[0], '"9";";";"8"']))
    report = convert(src, str(tmp_path / "out"))
    assert (report.rows, report.empty_isbn_rows, report.interactions) == (2, 1, 1)


def test_lf_line_ends_and_gzip_read_the_same(tmp_path):
    plain = convert(write(tmp_path / "a.csv", dump_bytes([HEADER] + ROWS)), str(tmp_path / "a"))
    gz = tmp_path / "BX-Book-Ratings.csv.gz"
    gz.write_bytes(gzip.compress(dump_bytes([HEADER] + ROWS, newline="\n")))
    packed = convert(str(gz), str(tmp_path / "b"))
    assert Path(plain.output).read_bytes() == Path(packed.output).read_bytes()


@pytest.mark.parametrize("name, compress", [("x.csv.xz", lzma.compress),
                                           ("x.csv.gz", gzip.compress)])
def test_concatenated_streams_beyond_the_first_chunk_are_all_read(tmp_path, monkeypatch, name,
                                                                 compress):
    """``cat a.xz b.xz`` is one valid file; the first stream spans several read chunks."""
    monkeypatch.setattr(bookcrossing, "DECOMPRESS_CHUNK", 256)
    lines = [f'"{u}";"{1000000000 + u}";"{u % 11}"' for u in range(1, 40001)]
    whole = dump_bytes([HEADER] + lines)
    cut = whole.index(b"\r\n", len(whole) // 2) + 2
    joined = write(tmp_path / name, compress(whole[:cut]) + compress(whole[cut:]))
    plain = convert(write(tmp_path / "plain.csv", whole), str(tmp_path / "a"))
    packed = convert(joined, str(tmp_path / "b"))
    assert packed.rows == 40000
    assert Path(plain.output).read_bytes() == Path(packed.output).read_bytes()


# ----------------------------------------------------------------------------- corrupt inputs
def _truncated(compress):
    return compress(dump_bytes([HEADER] + ROWS * 50))[:-40]


def _zip(payload):
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("BX-Book-Ratings.csv", payload)
    return buffer.getvalue()


CORRUPT = {
    "truncated_xz": ("BX-Book-Ratings.csv.xz", _truncated(lzma.compress), "truncated", None),
    "truncated_gz": ("BX-Book-Ratings.csv.gz", _truncated(gzip.compress), "truncated", None),
    "truncated_zip": ("BX-CSV-Dump.zip", _zip(dump_bytes([HEADER] + ROWS))[:-30], "zip", None),
    "empty": ("BX-Book-Ratings.csv", b"", "empty file", 1),
    "header_only": ("BX-Book-Ratings.csv", dump_bytes([HEADER]), "no ratings", 2),
    "comma_header": ("BX-Book-Ratings.csv", dump_bytes(['"User-ID","ISBN","Book-Rating"']),
                     "header", 1),
    "comma_row": ("BX-Book-Ratings.csv", dump_bytes([HEADER, ROWS[0], '"5","0345","3"']),
                  "3 quoted fields", 3),
    "four_fields": ("BX-Book-Ratings.csv", dump_bytes([HEADER, '"5";"0345";"3";"1"']),
                    "3 quoted fields", 2),
    "unquoted": ("BX-Book-Ratings.csv", dump_bytes([HEADER, ROWS[0], '5";"0345";"3']),
                 "3 quoted fields", 3),
    "rating_text": ("BX-Book-Ratings.csv", dump_bytes([HEADER] + ROWS + ['"7";"0345";"abc"']),
                    "Book-Rating", 8),
    "rating_11": ("BX-Book-Ratings.csv", dump_bytes([HEADER, '"7";"0345";"11"']), "0-10", 2),
    "user_text": ("BX-Book-Ratings.csv", dump_bytes([HEADER, ROWS[0], '"u7";"0345";"1"']),
                  "User-ID", 3),
    "first_bad_line": ("BX-Book-Ratings.csv",
                       dump_bytes([HEADER, ROWS[0], '"u7";"0345";"1"', '"1";"2"']), "User-ID", 3),
    "cut_row": ("BX-Book-Ratings.csv", dump_bytes([HEADER] + ROWS)[:-8], "3 quoted fields", 7),
}


@pytest.mark.parametrize("case", sorted(CORRUPT))
def test_corrupt_input_names_file_and_line_and_writes_nothing(tmp_path, case):
    name, payload, words, line = CORRUPT[case]
    src = write(tmp_path / "in" / name, payload)
    out = tmp_path / "out"
    with pytest.raises(DataFormatError) as err:
        convert(src, str(out))
    message = str(err.value)
    assert src in message and words in message and "\n" not in message
    if line is not None:
        assert f"line {line}:" in message
    else:
        assert case == "truncated_zip" or "line " in message
    assert not out.exists() or not any(out.iterdir())


def test_failed_write_leaves_no_temp_file(tmp_path, monkeypatch):
    src = write(tmp_path / "BX-Book-Ratings.csv", dump_bytes([HEADER] + ROWS))
    out = tmp_path / "out"

    def crash(*args):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", crash)
    with pytest.raises(OSError, match="disk full"):
        convert(src, str(out))
    assert list(out.iterdir()) == []


# ---------------------------------------------------------------- dataset folder hook and CLI
def test_ensure_dataset_files_converts_once_then_reuses(tmp_path, monkeypatch):
    folder = tmp_path / "book-crossing"
    folder.mkdir()
    (folder / "BX-CSV-Dump.zip").write_bytes(_zip(dump_bytes([HEADER] + ROWS)))
    config = {"dataset": "book-crossing", "data_path": str(folder)}
    resolve.ensure_dataset_files(config)
    inter = folder / "book-crossing.inter"
    assert len(read_inter(inter)) == 4
    stamp = inter.stat().st_mtime_ns

    def no_second_conversion(*args):
        raise AssertionError("converted again")

    monkeypatch.setattr(bookcrossing, "convert", no_second_conversion)
    resolve.ensure_dataset_files(config)
    assert inter.stat().st_mtime_ns == stamp
    assert sorted(p.name for p in folder.iterdir()) == ["BX-CSV-Dump.zip", "book-crossing.inter"]


def test_offline_without_dump_says_what_to_put_where(tmp_path, monkeypatch):
    monkeypatch.setattr(resolve, "_online", lambda url, timeout=3.0: False)
    folder = tmp_path / "book-crossing"
    with pytest.raises(DatasetNotFoundError) as err:
        resolve.ensure_dataset_files({"dataset": "book-crossing", "data_path": str(folder)})
    message = str(err.value)
    for words in ("BX-Book-Ratings.csv", ".csv.xz", ".csv.gz", "BX-CSV-Dump.zip", str(folder),
                  "python -m recbole_gcnprune.data.bookcrossing"):
        assert words in message
    assert "\n" not in message and not folder.exists()


def test_converter_command(tmp_path, capsys):
    write(tmp_path / "dump" / "BX-Book-Ratings.csv", dump_bytes([HEADER] + ROWS))
    out = tmp_path / "out"
    assert bookcrossing.main([str(tmp_path / "dump"), str(out)]) == 0
    assert "4 interactions" in capsys.readouterr().out
    assert bookcrossing.main([str(tmp_path / "missing.csv.xz"), str(out)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: cannot read") and err.count("\n") == 1
    bad = write(tmp_path / "bad.csv", dump_bytes([HEADER, '"1";"2"']))
    assert bookcrossing.main([bad, str(tmp_path / "none")]) == 2
    assert "line 2:" in capsys.readouterr().err and not (tmp_path / "none").exists()


def test_converter_command_as_module_usage_error_is_one_line():
    result = subprocess.run([sys.executable, "-m", "recbole_gcnprune.data.bookcrossing", "x"],
                            capture_output=True, text=True, cwd=REPO, timeout=60, check=False)
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1 and "OUT_DIR" in result.stderr
