"""Name-based lookup in the RecBole-GNN manner: plugin classes first, then RecBole's."""

import difflib
import importlib
import inspect

from recbole.model.abstract_recommender import AbstractRecommender
from recbole.utils import get_model as recbole_get_model
from recbole.utils import get_trainer as recbole_get_trainer

from recbole_gcnprune import compat
from recbole_gcnprune.errors import UserInputError

_RECBOLE_MODEL_MODULES = (
    "general_recommender",
    "context_aware_recommender",
    "sequential_recommender",
    "knowledge_aware_recommender",
    "exlib_recommender",
)


def plugin_models():
    """Model classes this plugin provides, by name."""
    from recbole_gcnprune import model

    return {name: getattr(model, name) for name in model.__all__}


def plugin_trainers():
    """Trainer classes this plugin provides, by model name."""
    from recbole_gcnprune.trainer import MODEL_TRAINERS

    return MODEL_TRAINERS


def recbole_model_names():
    """Every model class name RecBole ships."""
    compat.apply()  # before importing RecBole's sequential models (see compat)
    names = set()
    for module in _RECBOLE_MODEL_MODULES:
        try:
            mod = importlib.import_module(f"recbole.model.{module}")
        except ImportError:
            continue
        for name, obj in inspect.getmembers(mod, inspect.isclass):
            if issubclass(obj, AbstractRecommender):
                names.add(name)
    return names


def get_model(model_name):
    """The model class called ``model_name``: ours first, then RecBole's."""
    plugins = plugin_models()
    if model_name in plugins:
        return plugins[model_name]
    known = sorted(set(plugins) | recbole_model_names())
    if model_name in known:
        return recbole_get_model(model_name)
    by_lower = {name.lower(): name for name in known}
    close = [by_lower[m] for m in difflib.get_close_matches(model_name.lower(), by_lower, n=3,
                                                             cutoff=0.5)]
    hint = (f"did you mean {', '.join(close)}?" if close
            else "known models include GCNPruneGAN, LightGCN, NGCF, BPR, SGL, SimpleX, Pop")
    raise UserInputError(f"unknown model '{model_name}': {hint}")


def get_trainer(model_type, model_name):
    """The trainer class for ``model_name``: ours first, then RecBole's."""
    trainers = plugin_trainers()
    if model_name in trainers:
        return trainers[model_name]
    return recbole_get_trainer(model_type, model_name)
