"""RecBole's ``Config`` plus our ``properties/`` folder, validated when it is built."""

import os

import yaml
from recbole.config import Config as RecBoleConfig
from recbole.utils import ModelType

from recbole_gcnprune import baselines, compat
from recbole_gcnprune.errors import ConfigError
from recbole_gcnprune.paths import properties_dir
from recbole_gcnprune.metrics import register_metrics
from recbole_gcnprune.pruning.checkpoint import check_teacher_file
from recbole_gcnprune.registry import get_model, plugin_models
from recbole_gcnprune.settings import UNSET, PruneSettings


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


# The backbone's keys (properties/model/GCNPruneGAN.yaml): key -> (is_valid, what a valid value
# is, an example fix). The pruning keys are PruneSettings' (settings.py).
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
    "reg_weight": (_non_negative_number, "a number >= 0", "--reg_weight=1e-4"),
    "split_seed": (lambda v: isinstance(v, int) and not isinstance(v, bool),
                   "an integer, or ~ for seed", "--split_seed=2020"),
}
# Keys checked for RecBole's models too: read for every model (split_seed), or read by RecBole's
# models as by ours.
_SHARED = ("embedding_size", "n_layers", "split_seed")


def validate(config_dict):
    """Raise :class:`ConfigError` for the first invalid value of this plugin's keys, and fill
    in the pruning keys from :class:`PruneSettings` (validated, defaults for keys not given);
    for RecBole's models only the keys in ``_SHARED`` (their other keys may mean something
    else, e.g. HGN's list ``reg_weight``). A command-line ``~`` of split_seed becomes None.
    A ``teacher_checkpoint`` is checked here too, before RecBole's log starts."""
    ours = config_dict.get("model") in plugin_models()
    if isinstance(config_dict.get("split_seed"), str) and config_dict["split_seed"].lower() in UNSET:
        config_dict["split_seed"] = None
    for key, (is_valid, expected, example) in _RULES.items():
        if not ours and key not in _SHARED:
            continue
        value = config_dict.get(key)
        if value is not None and not is_valid(value):
            raise ConfigError(f"invalid {key}={value!r}: must be {expected} (e.g. {example})")
    if ours:
        config_dict.update(PruneSettings.from_config(config_dict).as_dict())
        if (config_dict["prune_allocation"] == "frequency"
                and config_dict.get("layer_transform") == "linear"):
            raise ConfigError("prune_allocation=frequency sets the widths of popularity buckets, "
                              "which need --layer_transform=none (or use "
                              "--prune_allocation=global)")
        if config_dict["teacher_checkpoint"]:
            check_teacher_file(config_dict["teacher_checkpoint"])


class Config(RecBoleConfig):
    """RecBole's configurator that also reads ``properties/`` of this plugin and finds plugin
    models by name. Precedence (highest first) is RecBole's: command line, config dict, config
    files, then defaults (ours over RecBole's)."""

    def __init__(self, model=None, dataset=None, config_file_list=None, config_dict=None):
        compat.apply()
        baselines.install()
        register_metrics()
        super().__init__(model, dataset, resolve_config_files(config_file_list), config_dict)
        validate(self.final_config_dict)

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
            # listed in the log's "Dataset" group unless RecBole lists them elsewhere (a dataset
            # file's training keys, e.g. learning_rate, stay under "Training")
            known = {key for keys in self.parameters.values() for key in keys}
            self.parameters["Dataset"] += [k for k in loaded if k not in known]
