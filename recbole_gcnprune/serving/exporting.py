"""``export``: a trained model's final user and item vectors, token maps and seen items as plain
files (``.npy``, UTF-8 text, JSON) that numpy alone can serve.

What is exported is what ``full_sort_predict`` scores: ``model.forward()`` in eval mode (the
propagated, layer-averaged and, under ``ranking_loss: ccl``, L2-normalised vectors), not the ego
embedding tables; the score of a user and an item is the dot product of their vectors.
"""

import io
import os

import numpy as np
import torch

from recbole_gcnprune import __version__
from recbole_gcnprune.atomic import atomic_write_bytes, atomic_write_json, atomic_write_text
from recbole_gcnprune.errors import UserInputError
from recbole_gcnprune.leaderboard.versions import software_versions
from recbole_gcnprune.serving import manifest as files
from recbole_gcnprune.serving.evaluation import metrics_on_test_split
from recbole_gcnprune.serving.low_rank import low_rank_vectors
from recbole_gcnprune.serving.quantize import quantize
from recbole_gcnprune.serving.source import load_source, recorded_valid_metrics, \
    run_key_matches
from recbole_gcnprune.serving.user_ids import HASH_NAME, hash_token, key_check, read_key
from recbole_gcnprune.version import code_version

QUANTIZATION = {"int8": "per-row symmetric: scale = max|row| / 127, row = int8 * scale",
                "int8-channel": "per-channel symmetric: scale = max|column| / 127, "
                                "row = int8 * scales",
                "int4": "per-row symmetric: scale = max|row| / 7, row = int4 * scale, two per "
                        "byte (high nibble first, stored + 8)"}


def export(source, out_dir, dtype="float32", hash_key_file=None, model=None, dataset=None,
           config_file_list=None, config_dict=None, overrides=None, rank=None):
    """Export the model of ``source`` (a run folder or a checkpoint) to ``out_dir``; returns the
    manifest written. The config flags must be those the model was trained with (see
    :func:`recbole_gcnprune.serving.source.load_source`). ``rank``: serve the best rank-``rank``
    approximation of the model's scores (:mod:`~recbole_gcnprune.serving.low_rank`) instead of
    its full-width vectors."""
    if dtype not in files.DTYPES:
        raise UserInputError(f"unknown dtype {dtype!r}: pass one of {', '.join(files.DTYPES)}")
    if rank is not None and (isinstance(rank, bool) or not isinstance(rank, int) or rank < 1):
        raise UserInputError(f"--rank {rank!r} is not a positive integer: pass one below the "
                             "model's vector width, or leave --rank out")
    key = read_key(hash_key_file) if hash_key_file else None
    _check_out_dir(out_dir)
    loaded = load_source(source, model, dataset, config_file_list, config_dict, overrides)
    users, items = final_vectors(loaded.model)
    users, items, low_rank = _at_rank(users, items, rank)
    _remove_earlier_export(out_dir)
    written, served = _write_vectors(out_dir, users, items, dtype)
    written += _write_tokens(out_dir, loaded, key)
    written += _write_seen(out_dir, loaded, len(users))
    manifest = _manifest(loaded, users, items, dtype, key, served, low_rank)
    manifest["files"] = files.describe_files(out_dir, written)
    atomic_write_json(os.path.join(out_dir, files.MANIFEST), manifest)
    return manifest


@torch.no_grad()
def final_vectors(model):
    """``(users, items)``: float32 numpy arrays of ``model.forward()`` in eval mode, padding
    row 0 (RecBole's ``[PAD]``) dropped."""
    model.eval()
    users, items = model.forward()
    return (users[1:].detach().cpu().numpy().astype(np.float32),
            items[1:].detach().cpu().numpy().astype(np.float32))


def _at_rank(users, items, rank):
    """``(users, items, low_rank)``: the vectors to serve at ``rank`` (all of them when None),
    and what the manifest records of the approximation (None when there is none)."""
    if rank is None:
        return users, items, None
    width = users.shape[1]
    if rank >= width:
        raise UserInputError(f"--rank {rank} is not below the model's vector width {width}: "
                             f"pass 1 to {width - 1}, or leave --rank out")
    users_r, items_r, kept = low_rank_vectors(users, items, rank)
    return users_r, items_r, {"rank": rank, "of_width": width, "score_energy_kept": kept}


def _check_out_dir(out_dir):
    """``out_dir`` must be new, empty, or an earlier export (whose files are replaced)."""
    if not os.path.exists(out_dir):
        return
    if not os.path.isdir(out_dir):
        raise UserInputError(f"--out {out_dir} is a file: pass a new or empty folder")
    others = sorted(set(os.listdir(out_dir)) - set(files.EXPORT_FILES))
    if others:
        raise UserInputError(f"--out {out_dir} holds other files ({', '.join(others[:3])}): "
                             "pass a new or empty folder")


def _remove_earlier_export(out_dir):
    """Drop an earlier export's files, manifest first: a folder half re-exported is refused."""
    for name in files.EXPORT_FILES[::-1]:
        path = os.path.join(out_dir, name)
        if os.path.isfile(path):
            os.remove(path)


def _save_array(out_dir, name, array):
    """``np.save`` (no pickles) into ``out_dir/name``, atomically; returns ``name``."""
    buffer = io.BytesIO()
    np.save(buffer, np.ascontiguousarray(array), allow_pickle=False)
    atomic_write_bytes(os.path.join(out_dir, name), buffer.getvalue())
    return name


def _write_vectors(out_dir, users, items, dtype):
    """The vectors (and int8/int4 scales); returns the names written and the served bytes."""
    written, served = [], {}
    for name, scale_name, matrix in ((files.USERS, files.USERS_SCALE, users),
                                     (files.ITEMS, files.ITEMS_SCALE, items)):
        stored, scales = quantize(matrix, dtype)
        written.append(_save_array(out_dir, name, stored))
        served[name] = int(stored.nbytes)
        if scales is not None:
            written.append(_save_array(out_dir, scale_name, scales))
            served[scale_name] = int(scales.nbytes)
    return written, served


def _tokens(dataset, field):
    """RecBole's token of every row of ``field`` (padding dropped), checked to fit one line."""
    tokens = [str(token) for token in dataset.field2id_token[field][1:]]
    bad = next((t for t in tokens if "\n" in t or "\r" in t), None)
    if bad is not None:
        raise UserInputError(f"token {bad!r} of {field} holds a line break: it cannot be "
                             "written one per line")
    return tokens


def _write_tokens(out_dir, loaded, key):
    """``user_tokens.txt`` (HMAC digests when ``key``) and ``item_tokens.txt``."""
    config, dataset = loaded.config, loaded.dataset
    users = _tokens(dataset, config["USER_ID_FIELD"])
    if key is not None:
        users = [hash_token(key, token) for token in users]
    items = _tokens(dataset, config["ITEM_ID_FIELD"])
    for name, tokens in ((files.USER_TOKENS, users), (files.ITEM_TOKENS, items)):
        atomic_write_text(os.path.join(out_dir, name), "".join(f"{t}\n" for t in tokens))
    return [files.USER_TOKENS, files.ITEM_TOKENS]


def seen_items(loaded, n_users):
    """``(indptr, items)``, CSR over export rows: each user's train and valid items (what
    RecBole's test evaluation masks), sorted, unique."""
    uid, iid = loaded.config["USER_ID_FIELD"], loaded.config["ITEM_ID_FIELD"]
    pairs = [(loader._dataset.inter_feat[uid].numpy(), loader._dataset.inter_feat[iid].numpy())
             for loader in loaded.loaders[:2] if loader is not None]
    users = np.concatenate([u for u, _ in pairs]).astype(np.int64) - 1
    items = np.concatenate([i for _, i in pairs]).astype(np.int64) - 1
    n_items = int(items.max()) + 1 if len(items) else 1
    unique = np.unique(users * n_items + items)
    users, items = unique // n_items, unique % n_items
    indptr = np.zeros(n_users + 1, np.int64)
    np.cumsum(np.bincount(users, minlength=n_users), out=indptr[1:])
    return indptr, items.astype(np.int32)


def _write_seen(out_dir, loaded, n_users):
    indptr, items = seen_items(loaded, n_users)
    return [_save_array(out_dir, files.SEEN_INDPTR, indptr),
            _save_array(out_dir, files.SEEN_ITEMS, items)]


def _widths(loaded):
    """Every channel group's width (the pruned ones for a pruned model)."""
    return {group.name: group.width for group in loaded.model.channel_groups()}


def _manifest(loaded, users, items, dtype, key, served, low_rank):
    config = loaded.config
    manifest = {
        "format": files.FORMAT, "format_version": files.FORMAT_VERSION,
        "model": config["model"], "dataset": config["dataset"],
        "source": {"checkpoint": os.path.basename(loaded.checkpoint_file),
                   "run": os.path.basename(os.path.normpath(loaded.run_dir))
                   if loaded.run_dir else None,
                   "pruned": bool(loaded.pruning),
                   "config_matches_run": run_key_matches(loaded)},
        "widths": _widths(loaded), "vector_width": int(users.shape[1]),
        "scoring": "dot", "ranking_loss": config["ranking_loss"],
        "dtype": dtype, "quantization": QUANTIZATION.get(dtype),
        "num_users": int(users.shape[0]), "num_items": int(items.shape[0]),
        "user_ids": HASH_NAME if key is not None else files.RAW_IDS,
        "seen": "train+valid",
        "served_bytes": sum(served.values()), "served_bytes_by_file": served,
        "float32_bytes": int(users.nbytes + items.nbytes),
        "low_rank": low_rank,
        "metrics": {"test": metrics_on_test_split(loaded),
                    "valid": recorded_valid_metrics(loaded)},
        "versions": {**software_versions(), "recbole-gcnprune": __version__},
        "code_version": code_version(),
    }
    if key is not None:
        manifest["key_check"] = key_check(key)
    return manifest

