"""RecBole 1.2.1 on today's Python stack: every fix in one place.

Pinned in pyproject.toml (a working release exists), each guarded by a test in tests/test_compat.py:

* ``numpy<2``: ray<=2.6.3 (RecBole's pin) is built against numpy 1.x and RecBole's
  ``Config.compatibility_settings`` reads ``np.float_``.
* ``setuptools<81``: ray 2.6.3 imports ``pkg_resources`` (imported by ``recbole.quick_start``).
* ``scipy<1.13``: RecBole's LightGCN/NGCF/NCL/GCMC build adjacency with ``dok_matrix._update``.
* ``pandas<3``: copy-on-write turns RecBole's ``feat[field].fillna(..., inplace=True)`` into a no-op.

Shimmed here (no working release to pin):

* RecBole's ``TraditionalTrainer`` (Pop, ItemKNN, ...) sets ``epochs=1`` after ``eval_step`` was
  clamped to ``epochs``: with ``eval_step > 1`` it never validates nor saves; we clamp again.

* torch>=2.6 loads with ``weights_only=True``; RecBole pickles its ``Config`` object into every
  checkpoint, so its own best-model reload fails. :func:`apply` makes RecBole's trainer write
  checkpoints of tensors and plain values only, atomically, so they load with ``weights_only=True``.

* RecBole's ``sequential_recommender/sine.py`` calls ``torch.autograd.set_detect_anomaly(True)`` when
  it is imported, and importing ``recbole.model.sequential_recommender`` (as listing RecBole's model
  names does) imports it: from then on every backward pass of the process, whatever the model, runs
  autograd's debugging mode (a NaN check on every gradient, a traceback per recorded op).
  :func:`apply` imports that package once and restores the anomaly setting it found.
"""

import importlib

import torch
from recbole.trainer.trainer import TraditionalTrainer, Trainer
from recbole.utils import set_color

from recbole_gcnprune.atomic import atomic_torch_save

_APPLIED = False


def plain_config(config):
    """The JSON-able subset of a RecBole ``Config`` (enums and objects dropped)."""
    plain = {}
    for key, value in config.final_config_dict.items():
        if isinstance(value, (str, int, float, bool, type(None))):
            plain[key] = value
        elif isinstance(value, (list, tuple)) and all(
            isinstance(v, (str, int, float, bool)) for v in value
        ):
            plain[key] = list(value)
    return plain


def loadable_other_parameter(model):
    """``model.other_parameter()`` without the values ``weights_only`` loading refuses (scipy and
    numpy matrices of ItemKNN/EASE/SLIMElastic, modules of FDSA/DIN/DIEN): those are rebuilt from
    the dataset by the model's ``__init__`` or saved in ``state_dict`` already."""
    return {key: value for key, value in model.other_parameter().items()
            if value is None or isinstance(value, (torch.Tensor, bool, int, float))}


def checkpoint_state(trainer, epoch):
    """RecBole's checkpoint keys, holding only tensors and plain values."""
    return {
        "config": plain_config(trainer.config),
        "epoch": int(epoch),
        "cur_step": int(trainer.cur_step),
        "best_valid_score": float(trainer.best_valid_score),
        "state_dict": trainer.model.state_dict(),
        "other_parameter": loadable_other_parameter(trainer.model),
        "optimizer": trainer.optimizer.state_dict(),
        # plain metadata a trainer subclass adds (e.g. the pruned widths and kept indices)
        **getattr(trainer, "checkpoint_metadata", {}),
    }


def _save_weights_only_checkpoint(self, epoch, verbose=True, **kwargs):
    """Replacement for ``Trainer._save_checkpoint``: same keys, no pickled objects, atomic."""
    if not self.config["single_spec"] and self.config["local_rank"] != 0:
        return
    saved_model_file = kwargs.pop("saved_model_file", self.saved_model_file)
    atomic_torch_save(checkpoint_state(self, epoch), saved_model_file)
    if verbose:
        self.logger.info(set_color("Saving current", "blue") + f": {saved_model_file}")


def _traditional_trainer_init(init):
    """RecBole's ``TraditionalTrainer`` forces ``epochs=1`` after ``Trainer`` has set
    ``eval_step = min(eval_step, epochs)``; with ``eval_step > 1`` (ours is 5) Pop & co. never
    validate, never save a checkpoint, and the test reload fails. Clamp it again."""

    def __init__(self, config, model):
        init(self, config, model)
        self.eval_step = min(self.eval_step, self.epochs)

    return __init__


def _import_recbole_sequential_models_keeping_anomaly_mode():
    """Run the import side effect of RecBole's ``sine.py`` now and undo it, so that no later import
    switches autograd's anomaly detection on for the whole process."""
    enabled = torch.is_anomaly_enabled()
    importlib.import_module("recbole.model.sequential_recommender")
    torch.autograd.set_detect_anomaly(enabled)


def apply():
    """Install the shims (idempotent)."""
    global _APPLIED
    if _APPLIED:
        return
    _import_recbole_sequential_models_keeping_anomaly_mode()
    Trainer._save_checkpoint = _save_weights_only_checkpoint
    TraditionalTrainer.__init__ = _traditional_trainer_init(TraditionalTrainer.__init__)
    _APPLIED = True
