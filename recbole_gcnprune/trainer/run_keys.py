"""What names the pruning trainer's caches: the teacher file and each run's folder are keyed by
a short hash of the settings that shape them, and only those."""

import hashlib
import json

from recbole_gcnprune.compat import plain_config

PRUNING_KEYS = (
    "prune_criterion", "prune_ratio", "search_epochs", "adv_weight", "distill_weight",
    "budget_weight", "generator_lr", "discriminator_lr", "tau_start", "tau_end",
    "n_items_sampled", "taylor_batches", "teacher_checkpoint", "finetune_distill_weight",
    "distill_top_items", "prune_rotation", "inherit_weight", "adv_profile", "finetune_eval_step",
    "finetune_learning_rate", "search_learning_rate", "search_top_items",
    "finetune_stopping_delta", "search_stopping_step", "search_rank_weight",
)
FROM_SCRATCH = ("train_small", "distill_small")  # the pruned widths, re-initialised
# what only acts on the teacher's weights: left out of a from-scratch run's folder key
TEACHER_WEIGHT_KEYS = ("prune_rotation", "inherit_weight")
# what only acts on the gan search: left out of every other criterion's folder key
SEARCH_ONLY_KEYS = ("search_learning_rate", "search_top_items", "search_stopping_step",
                    "search_rank_weight")
# (config_files: RecBole stores it as a key when written --config_files=X; the files' settings
# are keyed themselves)
RUNTIME_KEYS = (
    "checkpoint_dir", "show_progress", "state", "log_wandb", "wandb_project", "gpu_id",
    "use_gpu", "worker", "eval_batch_size", "single_spec", "local_rank", "device", "config_files",
)


# Left out of cache keys, so caches made before these keys existed keep their names: keys at the
# value that behaves as before them, and the ccl settings unless the loss is ccl (they do not act)
AS_BEFORE = {"ranking_loss": "bpr", "ccl_item_norm": True, "adv_profile": "sampled",
             "finetune_eval_step": None, "finetune_learning_rate": None,
             "search_learning_rate": None, "search_top_items": 0, "finetune_stopping_delta": 0,
             "search_stopping_step": 0, "search_rank_weight": 1.0}
CCL_KEYS = ("ccl_margin", "ccl_negative_weight", "ccl_item_norm")


def config_key(config, exclude):
    """Short hash of the plain config without ``exclude``d keys (and settings that do not act)."""
    plain = plain_config(config)
    if plain.get("ranking_loss") != "ccl":
        exclude = tuple(exclude) + CCL_KEYS
    plain = {k: v for k, v in plain.items()
             if k not in exclude and not (k in AS_BEFORE and AS_BEFORE[k] == v)}
    return hashlib.sha256(json.dumps(plain, sort_keys=True).encode()).hexdigest()[:12]


def inactive_keys(criterion):
    """Keys that do not act on a run of ``criterion``: left out of its folder key."""
    unused = TEACHER_WEIGHT_KEYS if criterion in FROM_SCRATCH else ()
    return unused + (SEARCH_ONLY_KEYS if criterion != "gan" else ())
