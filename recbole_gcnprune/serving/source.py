"""What an export or a check starts from: a run folder or a checkpoint, the config and data it
was trained on (rebuilt from the same flags), and the model loaded from it."""

import json
import os
import sys
from contextlib import contextmanager
from dataclasses import dataclass

from recbole_gcnprune.config import Config
from recbole_gcnprune.errors import UserInputError
from recbole_gcnprune.model.protocol import PrunableRecommender
from recbole_gcnprune.pruning.checkpoint import (
    first_line,
    has_tensor_state,
    load_into,
    read_safely,
)
from recbole_gcnprune.quick_start import build_model, load_data
from recbole_gcnprune.trainer.run_keys import run_key

CHECKPOINT_IN_RUN = "finetune.pth"
DEFAULT_MODEL, DEFAULT_DATASET = "GCNPruneGAN", "ml-100k"  # the main command's defaults
SAME_FLAGS = ("pass the --model, --dataset, --config_files and --key=value flags the run was "
              "trained with")
OUR_CHECKPOINT = "pass a checkpoint of this package (a run's finetune.pth or a teacher)"


@dataclass
class Source:
    """A loaded checkpoint with its config, RecBole dataset and (train, valid, test) loaders."""

    config: object
    dataset: object
    loaders: tuple
    model: object
    checkpoint_file: str
    run_dir: object  # the run folder, or None for a checkpoint outside one
    pruning: object  # the checkpoint's pruning metadata, or None for a dense one


def checkpoint_of(source):
    """``(checkpoint file, run folder or None)`` of a run folder or a checkpoint file."""
    if os.path.isdir(source):
        path = os.path.join(source, CHECKPOINT_IN_RUN)
        if not os.path.isfile(path):
            raise UserInputError(f"{source} holds no {CHECKPOINT_IN_RUN}: pass a run folder "
                                 "whose fine-tuning finished, or a checkpoint file")
        return path, source
    if not os.path.isfile(source):
        raise UserInputError(f"{source} not found: pass a run folder (saved/gcnprune/runs/...) "
                             "or a checkpoint file")
    folder = os.path.dirname(os.path.abspath(source))
    is_run = os.path.isfile(os.path.join(folder, "report.json"))
    return source, folder if is_run else None


def names_from_run(run_dir):
    """``(model, dataset)`` read from a run folder's name ``<model>-<dataset>-<key>``, or
    ``(None, None)`` for another name."""
    parts = os.path.basename(os.path.normpath(run_dir or "")).split("-")
    if len(parts) < 3:
        return None, None
    return parts[0], "-".join(parts[1:-1])


@contextmanager
def command_line(overrides):
    """RecBole's ``Config`` reads ``--key=value`` from ``sys.argv``: show it ``overrides``
    alone (None: leave ``sys.argv`` as it is)."""
    if overrides is None:
        yield
        return
    saved = sys.argv
    sys.argv = [saved[0] if saved else "recbole_gcnprune", *overrides]
    try:
        yield
    finally:
        sys.argv = saved


def load_source(source, model=None, dataset=None, config_file_list=None, config_dict=None,
                overrides=None):
    """Rebuild the config and data of ``source`` and load its model (eval mode).

    ``model``/``dataset`` default to the run folder's name, else the main command's defaults;
    ``overrides``: command-line ``--key=value`` strings (the CLI's), read as RecBole reads them.
    """
    checkpoint_file, run_dir = checkpoint_of(source)
    checkpoint = _read(checkpoint_file)  # before the data is built: a bad file fails at once
    run_model, run_dataset = names_from_run(run_dir)
    with command_line(overrides):
        config = Config(model or run_model or DEFAULT_MODEL,
                        dataset or run_dataset or DEFAULT_DATASET, config_file_list, config_dict)
    dataset_object, loaders = load_data(config)
    built = _exportable(build_model(config, loaders[0]))
    built = _load_weights(built, checkpoint, checkpoint_file)
    return Source(config, dataset_object, loaders, built.eval(), checkpoint_file, run_dir,
                  checkpoint.get("pruning"))


def _exportable(model):
    """``model`` if it gives its final vectors through ``forward()`` (the pruning protocol)."""
    if not isinstance(model, PrunableRecommender):
        raise UserInputError(f"{type(model).__name__} cannot be exported: export serves models "
                             "whose forward() gives the scored user and item vectors (e.g. "
                             "--model=GCNPruneGAN)")
    return model


def _read(checkpoint_file):
    """The checkpoint, read with ``weights_only=True``, with a ``state_dict`` of tensors and
    pruning metadata of this package's form; else one line (never torch's own advice)."""
    checkpoint = read_safely(checkpoint_file, hint=OUR_CHECKPOINT, error=UserInputError)
    if not has_tensor_state(checkpoint):
        raise UserInputError(f"{checkpoint_file} has no 'state_dict' of tensors: "
                             f"{OUR_CHECKPOINT}")
    pruning = checkpoint.get("pruning")
    widths = pruning.get("widths") if isinstance(pruning, dict) else None
    if pruning and not (isinstance(widths, dict) and all(
            isinstance(w, int) and not isinstance(w, bool) and w > 0 for w in widths.values())):
        raise UserInputError(f"{checkpoint_file} has pruning metadata whose 'widths' are not "
                             f"positive integers by channel group: {OUR_CHECKPOINT}")
    return checkpoint


def _load_weights(model, checkpoint, checkpoint_file):
    """``load_into`` (shrinks to the pruned widths first), shapes checked by torch's strict
    load; a mismatch is one line."""
    try:
        return load_into(model, checkpoint)
    except (RuntimeError, KeyError, ValueError, TypeError) as error:
        raise UserInputError(f"{checkpoint_file} does not fit the model built from this config "
                             f"({first_line(error, skip=1)}): {SAME_FLAGS}") from None


def run_key_matches(source):
    """Whether the rebuilt config gives the run folder's own key (the same settings, by the
    same code version: the trainer's naming), or None for a checkpoint outside a run folder."""
    if source.run_dir is None:
        return None
    key = run_key(source.config)
    return os.path.basename(os.path.normpath(source.run_dir)).endswith(f"-{key}")


def recorded_valid_metrics(source):
    """The validation metrics a run recorded for its ``finetune.pth`` (``finetune.json``), or
    None for another checkpoint."""
    if source.run_dir is None or os.path.basename(source.checkpoint_file) != CHECKPOINT_IN_RUN:
        return None
    path = os.path.join(source.run_dir, "finetune.json")
    if not os.path.isfile(path):
        return None
    with open(path, encoding="utf-8") as f:
        return json.load(f).get("best_valid_result")
