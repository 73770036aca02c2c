"""Serving a trained model with numpy alone.

``export(run_or_checkpoint, out_dir, ...)`` writes the final user and item vectors, token maps,
seen items and a manifest; ``verify(export_dir, run_or_checkpoint, ...)`` checks an export's
top-k lists and metrics against the model on RecBole's test split; ``load(export_dir)`` serves
it (``.recommend(user_tokens, k)``) without importing torch or recbole. Imports are lazy, so
``load`` stays torch-free.
"""

import importlib

_HOMES = {
    "export": "recbole_gcnprune.serving.exporting",
    "verify": "recbole_gcnprune.serving.verification",
    "load": "recbole_gcnprune.serving.recommend",
}
__all__ = sorted(_HOMES)


def __getattr__(name):
    if name in _HOMES:
        return getattr(importlib.import_module(_HOMES[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
