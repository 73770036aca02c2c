"""RecBole's ``Config`` plus our ``properties/`` folder, validated when it is built."""

import os

import yaml
from recbole.config import Config as RecBoleConfig
from recbole.utils import ModelType

from recbole_gcnprune import compat
from recbole_gcnprune.errors import ConfigError
from recbole_gcnprune.metrics import register_metrics
from recbole_gcnprune.pruning.gan_search import ADV_PROFILES
from recbole_gcnprune.registry import get_model, plugin_models


def properties_dir():
    """``properties/`` of a source checkout, or ``recbole_gcnprune/properties`` of a wheel."""
    here = os.path.dirname(os.path.abspath(__file__))
    for candidate in (os.path.join(here, "properties"), os.path.join(here, "..", "properties")):
        if os.path.isfile(os.path.join(candidate, "overall.yaml")):
            return os.path.normpath(candidate)
    raise FileNotFoundError(f"recbole_gcnprune properties/ not found beside {here}")


def resolve_config_files(paths):
    """Paths as given, except that a name missing from the working directory is looked up in
    ``properties/variants/`` (e.g. ``book-crossing-bench5.yaml``), which also works from a wheel;
    a file found nowhere is a one-line error."""
    if not paths:
        return paths
    resolved = []
    for path in paths:
        variant = os.path.join(properties_dir(), "variants", os.path.basename(path))
        if os.path.isfile(path):
            resolved.append(path)
        elif os.path.isfile(variant):
            resolved.append(variant)
        else:
            raise ConfigError(f"config file {path} not found (variants shipped: "
                              f"{', '.join(sorted(os.listdir(os.path.dirname(variant))))})")
    return resolved


def _positive_int(v):
    return isinstance(v, int) and not isinstance(v, bool) and v > 0


def _non_negative_int(v):
    return isinstance(v, int) and not isinstance(v, bool) and v >= 0


def _non_negative_number(v):
    return isinstance(v, (int, float)) and not isinstance(v, bool) and v >= 0


def _positive_number(v):
    return _non_negative_number(v) and v > 0


PRUNE_CRITERIA = ("gan", "magnitude", "taylor", "random", "train_small", "distill_small", "none")

# key -> (is_valid, what a valid value is, an example fix)
_RULES = {
    "embedding_size": (_positive_int, "a positive integer", "--embedding_size=64"),
    "transform_size": (_positive_int, "a positive integer", "--transform_size=64"),
    "n_layers": (_non_negative_int, "a non-negative integer", "--n_layers=3"),
    "layer_transform": (lambda v: v in ("none", "linear"), "one of none, linear",
                        "--layer_transform=none"),
    "ranking_loss": (lambda v: v in ("bpr", "ccl"), "one of bpr, ccl", "--ranking_loss=bpr"),
    "ccl_margin": (lambda v: isinstance(v, (int, float)) and not isinstance(v, bool)
                   and -1 <= v <= 1, "a cosine in [-1, 1]", "--ccl_margin=0.5"),
    "ccl_negative_weight": (_non_negative_number, "a number >= 0",
                            "--ccl_negative_weight=10"),
    "ccl_item_norm": (lambda v: isinstance(v, bool), "True or False", "--ccl_item_norm=False"),
    "prune_ratio": (
        lambda v: isinstance(v, (int, float)) and not isinstance(v, bool) and 0 < v < 1,
        "the fraction of channels to remove, strictly between 0 and 1",
        "--prune_ratio=0.75",
    ),
    "prune_criterion": (lambda v: v in PRUNE_CRITERIA, f"one of {', '.join(PRUNE_CRITERIA)}",
                        "--prune_criterion=gan"),
    "prune_rotation": (lambda v: v in ("pca", "none"), "one of pca, none",
                       "--prune_rotation=pca"),
    "inherit_weight": (lambda v: _non_negative_number(v) and v <= 1, "a number in [0, 1]",
                       "--inherit_weight=0.25"),
    "adv_weight": (_non_negative_number, "a number >= 0", "--adv_weight=0.1"),
    "adv_profile": (lambda v: v in ADV_PROFILES, f"one of {', '.join(ADV_PROFILES)}",
                    "--adv_profile=panel"),
    "distill_weight": (_non_negative_number, "a number >= 0", "--distill_weight=1.0"),
    "search_rank_weight": (_non_negative_number, "a number >= 0 (0: no ranking term)",
                           "--search_rank_weight=0"),
    "finetune_distill_weight": (_non_negative_number, "a number >= 0",
                                "--finetune_distill_weight=1.0"),
    "finetune_eval_step": (_positive_int, "a positive integer, or ~ for eval_step",
                           "--finetune_eval_step=1"),
    "finetune_learning_rate": (_positive_number,
                               "a number > 0, or ~ for learning_rate",
                               "--finetune_learning_rate=0.001"),
    "finetune_stopping_delta": (_non_negative_number,
                                "a number >= 0 (0: any gain restarts the patience)",
                                "--finetune_stopping_delta=0.0005"),
    "search_learning_rate": (_non_negative_number,
                             ("a number >= 0 (0: the student stays the teacher), or ~ for "
                              "learning_rate"), "--search_learning_rate=0"),
    "distill_top_items": (_non_negative_int, "a non-negative integer", "--distill_top_items=32"),
    "search_top_items": (_non_negative_int, "a non-negative integer", "--search_top_items=400"),
    "budget_weight": (_non_negative_number, "a number >= 0", "--budget_weight=5.0"),
    "search_epochs": (_non_negative_int, "a non-negative integer", "--search_epochs=30"),
    "search_stopping_step": (_non_negative_int, "a non-negative integer (0: no early stop)",
                             "--search_stopping_step=2"),
    "reg_weight": (_non_negative_number, "a number >= 0", "--reg_weight=1e-4"),
    "taylor_batches": (_positive_int, "a positive integer", "--taylor_batches=20"),
    "generator_lr": (_positive_number, "a number > 0", "--generator_lr=0.01"),
    "discriminator_lr": (_positive_number, "a number > 0", "--discriminator_lr=0.001"),
    "tau_start": (_positive_number, "a temperature > 0", "--tau_start=1.0"),
    "tau_end": (_positive_number, "a temperature > 0", "--tau_end=0.1"),
    "n_items_sampled": (_positive_int, "a positive integer", "--n_items_sampled=128"),
    "split_seed": (lambda v: isinstance(v, int) and not isinstance(v, bool),
                   "an integer, or ~ for seed", "--split_seed=2020"),
    "teacher_checkpoint": (lambda v: isinstance(v, (str, os.PathLike)),
                           "a file path, or ~ to train one",
                           "--teacher_checkpoint=saved/gcnprune/teachers/FILE.pth"),
}
# Keys checked for RecBole's models too: read for every model (split_seed), or read by RecBole's
# models as by ours.
_SHARED = ("embedding_size", "n_layers", "split_seed")
# Values that stand for "not set": ~ in yaml is None; on the command line RecBole keeps "~" and
# "none" as strings ("None" becomes None).
_UNSET = ("~", "none")
# Our keys whose "not set" means "use another key's value" or "none given".
_OPTIONAL = ("finetune_eval_step", "finetune_learning_rate", "search_learning_rate",
             "search_rank_weight", "split_seed", "teacher_checkpoint")


def validate(config_dict):
    """Raise :class:`ConfigError` for the first invalid value of this plugin's keys; for
    RecBole's models only the keys in ``_SHARED`` (their other keys may mean something else,
    e.g. HGN's list ``reg_weight``). A command-line ``~`` of an optional key becomes None."""
    ours = config_dict.get("model") in plugin_models()
    for key, (is_valid, expected, example) in _RULES.items():
        if not ours and key not in _SHARED:
            continue
        value = config_dict.get(key)
        if key in _OPTIONAL and isinstance(value, str) and value.lower() in _UNSET:
            config_dict[key] = value = None
        if value is not None and not is_valid(value):
            raise ConfigError(f"invalid {key}={value!r}: must be {expected} (e.g. {example})")
        if isinstance(value, os.PathLike):
            config_dict[key] = os.fspath(value)  # a str, kept in cache keys and checkpoints


def resolve_search_rank_weight(config_dict):
    """``search_rank_weight: ~`` becomes 0 for a frozen search student (``search_learning_rate:
    0``) and 1 otherwise. A frozen student is the teacher under masks: it cannot re-scale or
    re-centre its scores, so its ranking loss (a margin on absolute cosines, for CCL) judges a
    channel set by how its scores sit against the margin, not by how it ranks; the scale-free
    distillation judges the ranking (bench/RESULTS.md, "The ranking term in a frozen search").
    A number given is kept, as a float."""
    if "search_rank_weight" not in config_dict:
        return
    weight = config_dict["search_rank_weight"]
    if weight is None:
        weight = 0.0 if config_dict.get("search_learning_rate") == 0 else 1.0
    config_dict["search_rank_weight"] = float(weight)  # 0 and 0.0 name the same run folder


class Config(RecBoleConfig):
    """RecBole's configurator that also reads ``properties/`` of this plugin and finds plugin
    models by name. Precedence (highest first) is RecBole's: command line, config dict, config
    files, then defaults (ours over RecBole's)."""

    def __init__(self, model=None, dataset=None, config_file_list=None, config_dict=None):
        compat.apply()
        register_metrics()
        super().__init__(model, dataset, resolve_config_files(config_file_list), config_dict)
        validate(self.final_config_dict)
        resolve_search_rank_weight(self.final_config_dict)

    def _read_yaml(self, path):
        with open(path, encoding="utf-8") as f:
            return yaml.load(f.read(), Loader=self.yaml_loader) or {}

    def _get_model_and_dataset(self, model, dataset):
        if model is None:
            model = self.external_config_dict.get("model")
            if model is None:
                raise ConfigError("no model given: pass --model=NAME (e.g. --model=GCNPruneGAN)")
        if isinstance(model, str):
            model = get_model(model)
        return super()._get_model_and_dataset(model, dataset)

    def _load_internal_config_dict(self, model, model_class, dataset):
        super()._load_internal_config_dict(model, model_class, dataset)
        props = properties_dir()
        overall = self._read_yaml(os.path.join(props, "overall.yaml"))
        if model_class.type != ModelType.GENERAL:
            # sequential/context/knowledge models keep RecBole's own split and ordering
            overall.pop("eval_args", None)
        self.internal_config_dict.update(overall)
        model_file = os.path.join(props, "model", f"{model}.yaml")
        if os.path.isfile(model_file):
            self._update_internal_config_dict(model_file)
        dataset_file = os.path.join(props, "dataset", f"{dataset}.yaml")
        if os.path.isfile(dataset_file):
            loaded = self._update_internal_config_dict(dataset_file) or {}
            self.parameters["Dataset"] += [k for k in loaded if k not in self.parameters["Dataset"]]
