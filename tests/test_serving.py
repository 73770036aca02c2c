"""Serving: export a tiny pruned run, verify it against the model, and serve it with numpy.

One pruned run is trained for the module (a minute at most); every export and check reads it.
Its users have long tokens (``customer-007@shop.example``) so that a raw token cannot turn up by
chance in the bytes of a binary file of a hashed export.
"""

import json
import os
import re
import shutil
import subprocess
import sys

import numpy as np
import pytest
import torch
from conftest import REPO_ROOT, write_tiny_dataset

from recbole_gcnprune import __version__, quick_start
from recbole_gcnprune.cli import main
from recbole_gcnprune.errors import UserInputError
from recbole_gcnprune.leaderboard.versions import software_versions
from recbole_gcnprune.serving import export, load, verify
from recbole_gcnprune.serving.errors import REEXPORT, ExportFolderError, KeyFileError, \
    UnknownUserError
from recbole_gcnprune.serving.manifest import MANIFEST, describe_files
from recbole_gcnprune.serving.source import _load_weights, load_source
from recbole_gcnprune.serving.verification import Verification

N_USERS, N_ITEMS, PER_USER = 60, 50, 10
SCRIPT = str(REPO_ROOT / "run_recbole_prune.py")
TIMEOUT_S = 120


def user_token(u):
    return f"customer-{u:03d}@shop.example"


def inter_rows(seed=0):
    """``write_tiny_dataset``'s interactions, with long user tokens."""
    rng = np.random.default_rng(seed)
    rows, t = [], 0
    for u in range(N_USERS):
        for i in rng.choice(N_ITEMS, size=PER_USER, replace=False):
            t += 1
            rows.append(f"{user_token(u)}\ti{int(i)}\t{float(rng.integers(1, 6))}\t{float(t)}")
    return rows


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """One tiny pruned run (gan, half the channels of width 8 and of a bottleneck of 4)."""
    root = tmp_path_factory.mktemp("serving")
    write_tiny_dataset(root, rows=inter_rows())
    config_dict = {
        "data_path": str(root), "epochs": 2, "eval_step": 1, "train_batch_size": 256,
        "checkpoint_dir": str(root / "saved"), "state": "WARNING", "use_gpu": False,
        "seed": 2020, "embedding_size": 8, "n_layers": 1, "layer_transform": "linear",
        "transform_size": 4, "prune_ratio": 0.5, "search_epochs": 1, "log_wandb": False,
        "prune_allocation": "uniform",  # half of every group: the widths these tests expect
    }
    cwd, argv = os.getcwd(), sys.argv
    os.chdir(root)
    sys.argv = ["pytest"]  # RecBole's Config parses sys.argv
    try:
        result = quick_start.run_recbole_prune("GCNPruneGAN", "tiny", config_dict=config_dict)
    finally:
        os.chdir(cwd)
        sys.argv = argv
    return {"root": root, "config_dict": config_dict, "result": result,
            "run_dir": result["report"]["run_dir"]}


def flags(run):
    """The run's config, as export/verify take it (the command line hidden)."""
    return {"config_dict": run["config_dict"], "overrides": []}


def cli_flags(run, **changes):
    """The run's config (with ``changes``) as command-line overrides."""
    return [f"--{key}={value}" for key, value in {**run["config_dict"], **changes}.items()]


@pytest.fixture(scope="module")
def exports(run):
    """``{dtype: export folder}`` of the run, one per dtype."""
    folders = {}
    for dtype in ("float32", "float16", "int8", "int8-channel", "int4"):
        folders[dtype] = str(run["root"] / f"export-{dtype}")
        export(run["run_dir"], folders[dtype], dtype, model="GCNPruneGAN", dataset="tiny",
               **flags(run))
    return folders


@pytest.fixture(scope="module")
def key_file(run):
    path = run["root"] / "user-key"
    path.write_text("a secret of this shop\n")
    return str(path)


@pytest.fixture(scope="module")
def hashed(run, key_file):
    folder = str(run["root"] / "export-hashed")
    export(run["run_dir"], folder, "float32", hash_key_file=key_file, **flags(run))
    return folder


def manifest_of(folder):
    with open(os.path.join(folder, MANIFEST), encoding="utf-8") as f:
        return json.load(f)


def copy_of(folder, tmp_path):
    """A copy of the export in ``folder`` to damage."""
    copy = tmp_path / "export"
    shutil.copytree(folder, copy)
    return copy


def write_manifest(folder, manifest):
    (folder / MANIFEST).write_text(json.dumps(manifest), encoding="utf-8")


def replace_file(folder, name, content):
    """Write ``content`` (an array, or bytes) as ``name`` and record its SHA-256 and size in the
    manifest, as a consistent export of other data would."""
    if isinstance(content, bytes):
        (folder / name).write_bytes(content)
    else:
        np.save(folder / name, content, allow_pickle=False)
    manifest = manifest_of(str(folder))
    manifest["files"].update(describe_files(str(folder), [name]))
    write_manifest(folder, manifest)


def refused(folder, pattern):
    """``load(folder)`` fails with one line that matches ``pattern`` and says to re-export."""
    with pytest.raises(ExportFolderError, match=pattern) as error:
        load(str(folder), use_faiss=False)
    message = str(error.value)
    assert "\n" not in message and message.endswith(REEXPORT)
    return message


class RecBoleLikeConfig:
    """Stands in for the Config object RecBole's own checkpoints pickle."""


# ------------------------------------------------------------------------------ export, verify
def test_float32_export_gives_the_models_lists_and_metrics(run, exports):
    result = verify(exports["float32"], run["run_dir"], 20, **flags(run))
    assert result.exact and result.vectors_identical
    assert result.identical == result.users == N_USERS
    assert result.mask_differs == 0
    metrics = sorted(result.model_metrics)
    torch.testing.assert_close(torch.tensor([result.export_metrics[m] for m in metrics]),
                               torch.tensor([result.model_metrics[m] for m in metrics]),
                               rtol=0, atol=1e-6)
    assert result.model_metrics["ndcg@20"] == pytest.approx(
        run["result"]["test_result"]["ndcg@20"], abs=1e-4)  # RecBole rounds to 4 places


def test_the_manifest_records_the_run(run, exports):
    manifest = manifest_of(exports["float32"])
    assert (manifest["model"], manifest["dataset"], manifest["scoring"]) == (
        "GCNPruneGAN", "tiny", "dot")
    assert (manifest["num_users"], manifest["num_items"]) == (N_USERS, N_ITEMS)
    assert manifest["metrics"]["test"]["ndcg@20"] == run["result"]["test_result"]["ndcg@20"]
    assert manifest["metrics"]["valid"]["ndcg@20"] > 0
    assert len(manifest["code_version"]) == 12 and manifest["versions"]["torch"]
    assert manifest["versions"] == {**software_versions(), "recbole-gcnprune": __version__}
    assert set(manifest["files"]) == {"users.npy", "items.npy", "user_tokens.txt",
                                      "item_tokens.txt", "seen_indptr.npy", "seen_items.npy"}


def test_a_pruned_run_exports_its_pruned_width(run, exports):
    kept = run["result"]["report"]["kept"]
    manifest = manifest_of(exports["float32"])
    assert manifest["widths"] == kept and manifest["source"]["pruned"]
    assert manifest["source"]["config_matches_run"]
    assert kept["embedding"] == 4 and kept["layer0.hidden"] == 2
    users = np.load(os.path.join(exports["float32"], "users.npy"), allow_pickle=False)
    assert users.shape == (N_USERS, kept["embedding"]) and users.dtype == np.float32


@pytest.mark.parametrize("dtype, least_overlap", [("float16", 0.98), ("int8", 0.95),
                                                  ("int8-channel", 0.95), ("int4", 0.85)])
def test_quantized_exports_report_overlap_and_ndcg_change(run, exports, dtype, least_overlap):
    result = verify(exports[dtype], run["run_dir"], 20, **flags(run))
    assert result.overlap >= least_overlap
    assert abs(result.export_metrics["ndcg@20"] - result.model_metrics["ndcg@20"]) < 0.02
    assert not result.vectors_identical
    text = "\n".join(result.lines())
    assert "top-20 overlap" in text and "NDCG@20" in text and f"{dtype}: quantized" in text


def test_served_bytes_count_vectors_and_scales(exports):
    float32, int8 = manifest_of(exports["float32"]), manifest_of(exports["int8"])
    cells = N_USERS * 4 + N_ITEMS * 4
    assert float32["served_bytes"] == 4 * cells == float32["float32_bytes"]
    assert int8["served_bytes"] == cells + 4 * (N_USERS + N_ITEMS)
    assert manifest_of(exports["int4"])["served_bytes"] == cells // 2 + 4 * (N_USERS + N_ITEMS)
    assert manifest_of(exports["int8-channel"])["served_bytes"] == cells + 2 * 4 * 4


def test_another_models_export_is_not_exact_and_the_command_exits_1(run, exports, capsys):
    """The dense teacher's export checked against the pruned run: other vectors, other lists."""
    folder = str(run["root"] / "export-teacher")
    export(run["result"]["report"]["teacher_file"], folder, **flags(run), model="GCNPruneGAN",
           dataset="tiny")
    assert manifest_of(folder)["widths"]["embedding"] == 8
    status = main(["verify", folder, run["run_dir"], *cli_flags(run)])
    out = capsys.readouterr().out
    assert status == 1 and "NOT exact" in out and "vectors differ" in out


def test_export_and_verify_from_the_command_line(run, exports, tmp_path, capsys):
    """Re-exporting over an int8 export replaces it (no scale file is left behind); flags that
    do not give the run folder's key (another prune_ratio) are noted, the export still made."""
    folder = tmp_path / "again"
    shutil.copytree(exports["int8"], folder)
    assert main(["export", run["run_dir"], "--out", str(folder),
                 *cli_flags(run, prune_ratio=0.75)]) == 0
    assert not (folder / "items_scale.npy").exists()
    assert manifest_of(str(folder))["source"]["config_matches_run"] is False
    assert main(["verify", str(folder), run["run_dir"], "-k", "10", *cli_flags(run)]) == 0
    out = capsys.readouterr().out
    assert "exported GCNPruneGAN on tiny" in out and "result          exact" in out
    assert "note: these flags do not give the run folder's key" in out
    assert "NDCG@10" in out


def test_float32_is_exact_within_rounding_of_another_device():
    """Vectors off by float32 rounding (exported on another device) still verify exact; lists
    that differ beyond near-ties, or metrics beyond 1e-6, do not."""
    result = Verification("x", "float32", 20, "numpy", users=3, identical=2, near_ties=1,
                          width=4, model_width=4, max_vector_error=2e-7, max_vector_entry=0.5,
                          model_metrics={"ndcg@20": 0.25}, export_metrics={"ndcg@20": 0.25})
    assert result.exact and result.verdict() == "exact"
    result.max_vector_error = 1e-4
    assert not result.exact and "vectors differ" in result.verdict()
    result.max_vector_error, result.export_metrics = 0.0, {"ndcg@20": 0.2500011}
    assert "metrics differ by more than 1e-06" in result.verdict()


def test_a_config_that_does_not_fit_the_checkpoint_is_one_line(run, tmp_path):
    """Without the run's layer_transform the model has no bottlenecks to load into."""
    config_dict = {**run["config_dict"], "layer_transform": "none"}
    with pytest.raises(UserInputError, match=r"does not fit the model .*--model, --dataset"):
        export(run["run_dir"], str(tmp_path / "x"), config_dict=config_dict, overrides=[])
    assert not (tmp_path / "x").exists()


def test_a_checkpoint_that_pickles_an_object_is_one_line_without_torchs_advice(run, tmp_path):
    """torch's own message on such a file tells how to load it unsafely: never relayed."""
    path = tmp_path / "recbole.pth"
    state = torch.load(os.path.join(run["run_dir"], "finetune.pth"), weights_only=True)
    torch.save({"config": RecBoleLikeConfig(), "state_dict": state["state_dict"]}, path)
    with pytest.raises(UserInputError, match=r"cannot be read with weights_only=True \(it "
                       rf"pickles {__name__}\.RecBoleLikeConfig, .*: pass a checkpoint of this "
                       "package") as error:
        export(str(path), str(tmp_path / "out"), model="GCNPruneGAN", dataset="tiny",
               **flags(run))
    message = str(error.value)
    assert "\n" not in message and "\x1b" not in message
    assert "weights_only=False" not in message and "trust" not in message
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("pruning", [{"widths": {"embedding": "4"}},
                                     {"widths": {"embedding": 4.0}},
                                     {"widths": {"embedding": True}},
                                     {"widths": [4, 2]}, "widths", [4]])
def test_malformed_pruning_metadata_is_one_line(run, tmp_path, pruning):
    path = tmp_path / "odd.pth"
    checkpoint = torch.load(os.path.join(run["run_dir"], "finetune.pth"), weights_only=True)
    if isinstance(pruning, dict) and isinstance(pruning["widths"], dict):
        pruning = {**checkpoint["pruning"],
                   "widths": {**checkpoint["pruning"]["widths"], **pruning["widths"]}}
    torch.save({**checkpoint, "pruning": pruning}, path)
    with pytest.raises(UserInputError, match=r"has pruning metadata whose 'widths' are not "
                       "positive integers") as error:
        export(str(path), str(tmp_path / "out"), model="GCNPruneGAN", dataset="tiny",
               **flags(run))
    assert "\n" not in str(error.value)


def test_widths_that_reach_range_unchecked_are_one_line(run):
    """Past the checkpoint's own check (as a caller of ``_load_weights`` may be), a width that
    is no integer fails in ``range()``: still one line."""
    loaded = load_source(run["run_dir"], "GCNPruneGAN", "tiny", **flags(run))
    checkpoint = {"state_dict": loaded.model.state_dict(), "pruning": {"widths": {
        "embedding": "4"}}}
    with pytest.raises(UserInputError, match=r"^odd.pth does not fit the model built from this "
                       r"config \('str' object cannot be interpreted as an integer\)"):
        _load_weights(loaded.model, checkpoint, "odd.pth")


def test_export_refuses_a_folder_with_other_files(run, tmp_path):
    (tmp_path / "notes.txt").write_text("mine")
    with pytest.raises(UserInputError, match=r"holds other files \(notes.txt\)"):
        export(run["run_dir"], str(tmp_path), **flags(run))


# ------------------------------------------------------------------------------ serving
def test_the_python_loader_round_trip(exports):
    served = load(exports["float32"], use_faiss=False)
    users = np.load(os.path.join(exports["float32"], "users.npy"), allow_pickle=False)
    items = np.load(os.path.join(exports["float32"], "items.npy"), allow_pickle=False)
    tokens = [user_token(3), user_token(42)]
    found = served.recommend(tokens, k=5)
    for rec in found:
        row = served.user_tokens.index(rec.user)
        scores = items @ users[row]
        best = np.lexsort((np.arange(N_ITEMS), -scores))[:5]
        assert rec.items == [served.item_tokens[i] for i in best]
        torch.testing.assert_close(torch.tensor(rec.scores), torch.from_numpy(scores[best]))
    assert [rec.user for rec in found] == tokens


def test_exclude_seen_leaves_out_train_and_valid_items(exports):
    served = load(exports["float32"], use_faiss=False)
    token = user_token(7)
    seen = {served.item_tokens[i] for i in served.seen(served.row_of(token))}
    assert len(seen) == 9  # 8 train + 1 valid of the 10 per user (80/10/10)
    (rec,) = served.recommend(token, k=N_ITEMS, exclude_seen=True)
    assert len(rec.items) == N_ITEMS - len(seen) and not seen & set(rec.items)


def test_faiss_search_gives_the_numpy_lists(exports):
    pytest.importorskip("faiss")
    tokens = [user_token(u) for u in range(N_USERS)]
    by_numpy = load(exports["int8"], use_faiss=False).recommend(tokens, 10, exclude_seen=True)
    by_faiss = load(exports["int8"], use_faiss=True).recommend(tokens, 10, exclude_seen=True)
    assert [r.items for r in by_faiss] == [r.items for r in by_numpy]


def test_an_unknown_user_is_one_line(exports):
    with pytest.raises(UnknownUserError, match=r"^unknown user 'nobody': pass a RecBole user "):
        load(exports["float32"]).recommend(["nobody"], 5)


@pytest.mark.parametrize("damage", ["change a byte", "truncate", "delete"])
@pytest.mark.parametrize("name", ["users.npy", "items.npy", "users_scale.npy", "items_scale.npy",
                                  "user_tokens.txt", "item_tokens.txt", "seen_indptr.npy",
                                  "seen_items.npy"])
def test_a_damaged_file_is_refused_by_name(exports, tmp_path, name, damage):
    folder = tmp_path / "export"
    shutil.copytree(exports["int8"], folder)
    path = folder / name
    data = path.read_bytes()
    if damage == "delete":
        path.unlink()
    else:
        path.write_bytes(data[:-1] if damage == "truncate"
                         else data[:-1] + bytes([data[-1] ^ 0xFF]))
    expected = {"change a byte": "was changed since it was exported", "truncate": "is truncated",
                "delete": "is missing"}[damage]
    message = rf"{re.escape(name)} {expected}.*: re-export it"
    with pytest.raises(ExportFolderError, match=message) as error:
        load(str(folder))
    assert "\n" not in str(error.value)


def test_a_missing_or_broken_manifest_is_refused(exports, tmp_path):
    folder = tmp_path / "export"
    shutil.copytree(exports["float32"], folder)
    (folder / MANIFEST).write_text("{not json")
    with pytest.raises(ExportFolderError, match=r"manifest.json is not valid JSON"):
        load(str(folder))
    (folder / MANIFEST).unlink()
    with pytest.raises(ExportFolderError, match=r"manifest.json not found: not an export"):
        load(str(folder))


INT8_FILES = ["users.npy", "items.npy", "users_scale.npy", "items_scale.npy", "user_tokens.txt",
              "item_tokens.txt", "seen_indptr.npy", "seen_items.npy"]


@pytest.mark.parametrize("name", [*INT8_FILES, "all"])
def test_a_file_the_manifest_does_not_list_is_refused(exports, tmp_path, name):
    """Every file the loader opens must be listed (and so checked), scales and seen items too."""
    folder = copy_of(exports["int8"], tmp_path)
    manifest = manifest_of(str(folder))
    if name == "all":
        manifest["files"], name = {}, "users.npy"
    else:
        del manifest["files"][name]
    write_manifest(folder, manifest)
    refused(folder, rf"manifest.json does not list {re.escape(name)} .*export/{re.escape(name)} "
                    "cannot be checked")


@pytest.mark.parametrize("field, value, pattern", [
    ("dtype", "int3", r"has dtype 'int3', not one of float32, float16, int8, int8-channel, int4"),
    ("dtype", None, r"has no 'dtype' field"),
    ("vector_width", "4", r"has vector_width '4', not a positive integer"),
    ("vector_width", 0, r"has vector_width 0, not a positive integer"),
    ("num_users", -1, r"has num_users -1, not a positive integer"),
    ("num_items", True, r"has num_items True, not a positive integer"),
    ("num_items", 50.0, r"has num_items 50.0, not a positive integer"),
    ("user_ids", "md5", r"has user_ids 'md5', not 'raw' or 'hmac-sha256'"),
    ("model", 3, r"has model 3, not a model name"),
    ("dataset", None, r"has no 'dataset' field"),
    ("files", [], r"has files \[\], not an object of file names"),
    ("files", {"users.npy": {"sha256": "ab"}}, r"lists users.npy as \{'sha256': 'ab'\}, not"),
    ("files", {"../users.npy": {}}, r"lists '../users.npy', not a file of an export"),
])
def test_a_manifest_field_out_of_range_is_one_line(exports, tmp_path, field, value, pattern):
    folder = copy_of(exports["int8"], tmp_path)
    manifest = manifest_of(str(folder))
    if value is None:
        del manifest[field]
    else:
        manifest[field] = value
    write_manifest(folder, manifest)
    refused(folder, rf"manifest.json {pattern}")


@pytest.mark.parametrize("key_check", [None, 12, "not hex"])
def test_a_hashed_manifest_needs_its_key_check(hashed, tmp_path, key_check):
    folder = copy_of(hashed, tmp_path)
    manifest = manifest_of(str(folder))
    if key_check is None:
        del manifest["key_check"]
    else:
        manifest["key_check"] = key_check
    write_manifest(folder, manifest)
    refused(folder, r"manifest.json has key_check .*, not 16 hex digits")


def _seen_arrays(folder):
    return (np.load(folder / "seen_indptr.npy"), np.load(folder / "seen_items.npy"))


@pytest.mark.parametrize("damage", ["item past the last", "negative item"])
def test_seen_items_out_of_range_are_refused(exports, tmp_path, damage):
    folder = copy_of(exports["float32"], tmp_path)
    _, items = _seen_arrays(folder)
    items[3] = N_ITEMS if damage == "item past the last" else -1
    replace_file(folder, "seen_items.npy", items)
    refused(folder, rf"seen_items.npy holds item rows outside 0..{N_ITEMS - 1}")


@pytest.mark.parametrize("damage", ["not from 0", "decreasing", "short of the items"])
def test_a_seen_index_that_is_no_csr_index_is_refused(exports, tmp_path, damage):
    folder = copy_of(exports["float32"], tmp_path)
    indptr, items = _seen_arrays(folder)
    if damage == "not from 0":
        indptr[0] = 1
    elif damage == "decreasing":
        indptr[5], indptr[6] = indptr[6], indptr[5]
    else:
        replace_file(folder, "seen_items.npy", np.concatenate([items, items[:1]]))
    replace_file(folder, "seen_indptr.npy", indptr)
    refused(folder, r"seen_indptr.npy is not a CSR index of seen_items.npy")


@pytest.mark.parametrize("name, content, pattern", [
    pytest.param("users.npy", np.zeros((N_USERS, 5), np.float32),
                 rf"users.npy has shape \({N_USERS}, 5\), the manifest says \({N_USERS}, 4\)",
                 id="users-width"),
    pytest.param("items.npy", np.zeros((N_ITEMS - 1, 4), np.float32), r"items.npy has shape",
                 id="items-rows"),
    pytest.param("items.npy", np.zeros((N_ITEMS, 4), np.float64),
                 r"items.npy holds float64 values, not the float32 values", id="items-dtype"),
    pytest.param("seen_indptr.npy", np.zeros(N_USERS + 1, np.float64),
                 r"seen_indptr.npy holds float64 values, not the integer values",
                 id="indptr-dtype"),
    pytest.param("seen_items.npy", np.zeros((2, 2), np.int32),
                 r"seen_items.npy has shape \(2, 2\)", id="seen-2d"),
    pytest.param("user_tokens.txt", b"\xff\xfe\n" * N_USERS,
                 r"user_tokens.txt is not UTF-8 text", id="tokens-not-utf8"),
    pytest.param("user_tokens.txt", b"same\n" * N_USERS,
                 r"user_tokens.txt holds a token more than once", id="tokens-twice"),
])
def test_arrays_and_tokens_that_do_not_fit_the_manifest_are_refused(exports, tmp_path, name,
                                                                    content, pattern):
    folder = copy_of(exports["float32"], tmp_path)
    replace_file(folder, name, content)
    refused(folder, pattern)


def test_a_k_that_is_not_positive_is_a_usage_error(exports, capsys):
    with pytest.raises(SystemExit) as stop:
        main(["recommend", exports["float32"], "--user", user_token(1), "-k", "0"])
    assert stop.value.code == 2 and "must be a positive integer, got 0" in capsys.readouterr().err


# ------------------------------------------------------------------------------ hashed ids
def test_a_hashed_export_holds_no_raw_user_token(hashed):
    tokens = [user_token(u).encode() for u in range(N_USERS)]
    for name in os.listdir(hashed):
        data = open(os.path.join(hashed, name), "rb").read()
        assert not [t for t in tokens if t in data], name
    assert manifest_of(hashed)["user_ids"] == "hmac-sha256"


def test_a_hashed_export_serves_raw_tokens_with_its_key(exports, hashed, key_file, tmp_path):
    tokens = [user_token(5), user_token(59)]
    plain = load(exports["float32"]).recommend(tokens, 10, exclude_seen=True)
    assert load(hashed, key_file=key_file).recommend(tokens, 10, exclude_seen=True) == plain
    with pytest.raises(UnknownUserError, match=r"HMAC-SHA256 digests: pass the key file"):
        load(hashed).recommend(tokens, 10)
    other = tmp_path / "other-key"
    other.write_text("another secret")
    with pytest.raises(KeyFileError, match=r"is not the key .* was exported with"):
        load(hashed, key_file=str(other))


@pytest.mark.parametrize("content", [None, "", "  \n"])
def test_a_missing_or_empty_key_file_is_one_line(run, tmp_path, content):
    key = tmp_path / "key"
    if content is not None:
        key.write_text(content)
    expected = "not found" if content is None else "is empty"
    with pytest.raises(KeyFileError, match=rf"^key file .*key {expected}: write a secret"):
        export(run["run_dir"], str(tmp_path / "out"), hash_key_file=str(key), **flags(run))


# ------------------------------------------------------------------------------ numpy only
def _python(code, cwd):
    return subprocess.run([sys.executable, "-c", code], cwd=cwd, capture_output=True, text=True,
                          timeout=TIMEOUT_S, stdin=subprocess.DEVNULL, check=False)


def test_the_recommend_path_imports_neither_torch_nor_recbole(exports):
    code = (
        "import sys\n"
        "from recbole_gcnprune.serving.recommend import load\n"
        f"found = load({exports['int8']!r}).recommend([{user_token(1)!r}], 5, True)\n"
        "assert len(found[0].items) == 5\n"
        "heavy = sorted(m for m in sys.modules if m.split('.')[0] in ('torch', 'recbole'))\n"
        "assert not heavy, heavy\n"
        "import recbole_gcnprune.serving as serving\n"
        "assert serving.load is load and 'torch' not in sys.modules\n"
    )
    proc = _python(code, REPO_ROOT)
    assert proc.returncode == 0, proc.stderr[-2000:]


def _recommend(args, cwd):
    return subprocess.run([sys.executable, SCRIPT, "recommend", *args], cwd=cwd,
                          capture_output=True, text=True, timeout=TIMEOUT_S,
                          stdin=subprocess.DEVNULL, check=False)


def test_the_recommend_command(exports, hashed, key_file):
    proc = _recommend([exports["float32"], "--user", user_token(2), "-k", "5", "--exclude-seen"],
                      REPO_ROOT)
    assert proc.returncode == 0, proc.stderr[-2000:]
    lines = proc.stdout.splitlines()
    assert lines[0] == "user\trank\titem\tscore" and len(lines) == 6
    expected = load(exports["float32"]).recommend(user_token(2), 5, exclude_seen=True)[0]
    assert [line.split("\t")[2] for line in lines[1:]] == expected.items
    proc = _recommend([hashed, "--user", user_token(2), "-k", "5", "--exclude-seen",
                       "--key-file", key_file], REPO_ROOT)
    assert proc.returncode == 0 and proc.stdout.splitlines() == lines


def test_the_recommend_command_exits_2_on_an_unknown_user_or_a_damaged_export(exports,
                                                                               tmp_path):
    proc = _recommend([exports["float32"], "--user", "nobody"], REPO_ROOT)
    assert proc.returncode == 2 and proc.stderr.splitlines() == [
        "error: unknown user 'nobody': pass a RecBole user token of tiny's data"]
    folder = tmp_path / "export"
    shutil.copytree(exports["float32"], folder)
    (folder / "items.npy").write_bytes(b"")
    proc = _recommend([str(folder), "--user", user_token(1)], REPO_ROOT)
    assert proc.returncode == 2 and len(proc.stderr.splitlines()) == 1
    assert "items.npy is truncated or changed" in proc.stderr


def test_a_low_rank_export_serves_narrower_vectors_and_is_compared(run, tmp_path, capsys):
    """``--rank 2`` of the width-4 pruned model: vectors 2 wide, the approximation recorded,
    verify compares it (exit 0) and never calls it exact."""
    folder = str(tmp_path / "rank2")
    assert main(["export", run["run_dir"], "--out", folder, "--rank", "2", "--dtype",
                 "int8-channel", *cli_flags(run)]) == 0
    manifest = manifest_of(folder)
    assert manifest["vector_width"] == 2 and manifest["low_rank"]["of_width"] == 4
    assert 0 < manifest["low_rank"]["score_energy_kept"] < 1
    assert manifest["served_bytes"] == (N_USERS + N_ITEMS) * 2 + 2 * 2 * 4
    assert main(["verify", folder, run["run_dir"], *cli_flags(run)]) == 0
    out = capsys.readouterr().out
    assert "rank 2 of width 4" in out
    assert "int8-channel, rank 2: quantized and low-rank, compared only" in out
    assert "vectors         rank 2, the model's width is 4" in out


def test_a_rank_not_below_the_width_is_one_line(run, tmp_path):
    with pytest.raises(UserInputError, match=r"--rank 4 is not below the model's vector "
                                             r"width 4: pass 1 to 3, or leave --rank out"):
        export(run["run_dir"], str(tmp_path / "rank4"), rank=4, **flags(run))
    assert not (tmp_path / "rank4").exists()
    with pytest.raises(UserInputError, match=r"--rank 0 is not a positive integer"):
        export(run["run_dir"], str(tmp_path / "rank0"), rank=0, **flags(run))


@pytest.mark.parametrize("low_rank", [3, {"rank": 3, "of_width": 8}, {"rank": 4, "of_width": 4}])
def test_a_low_rank_field_that_does_not_fit_the_width_is_one_line(exports, tmp_path, low_rank):
    folder = copy_of(exports["int8"], tmp_path)
    manifest = manifest_of(str(folder))
    manifest["low_rank"] = low_rank
    write_manifest(folder, manifest)
    refused(folder, r"manifest.json has low_rank .*, not null or \{\"rank\": the vector width")
