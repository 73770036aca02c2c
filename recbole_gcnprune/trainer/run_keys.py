"""What names the pruning trainer's caches: the teacher file and each run's folder are keyed by
a short hash of the code version and of the settings that shape them, and only those."""

import hashlib
import json

from recbole_gcnprune.compat import plain_config
from recbole_gcnprune.settings import PruneSettings, key_names
from recbole_gcnprune.version import code_version

PRUNING_KEYS = key_names()
# (config_files: RecBole stores it as a key when written --config_files=X; the files' settings
# are keyed themselves)
RUNTIME_KEYS = (
    "checkpoint_dir", "show_progress", "state", "log_wandb", "wandb_project", "gpu_id",
    "use_gpu", "worker", "eval_batch_size", "single_spec", "local_rank", "device", "config_files",
)
CCL_KEYS = ("ccl_margin", "ccl_negative_weight", "ccl_item_norm")


def config_key(config, exclude):
    """Short hash of the code version and the plain config without ``exclude``d keys (and the
    ccl settings unless the loss is ccl: they do not act)."""
    plain = plain_config(config)
    if plain.get("ranking_loss") != "ccl":
        exclude = tuple(exclude) + CCL_KEYS
    plain = {k: v for k, v in plain.items() if k not in exclude}
    plain["code_version"] = code_version()
    return hashlib.sha256(json.dumps(plain, sort_keys=True).encode()).hexdigest()[:12]


def teacher_key(config):
    """The teacher file's key: every setting but the pruning and runtime ones."""
    return config_key(config, PRUNING_KEYS + RUNTIME_KEYS)


def run_key(config):
    """A run folder's key: every setting that acts on the run (not the runtime ones, nor the
    pruning keys its criterion ignores)."""
    return config_key(config, RUNTIME_KEYS + PruneSettings.from_config(config).inactive_keys())


def inactive_keys(criterion):
    """Keys that do not act on a run of ``criterion``: left out of its folder key."""
    return PruneSettings(prune_criterion=criterion).inactive_keys()
