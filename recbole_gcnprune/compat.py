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
"""

import os
import tempfile

import torch
from recbole.trainer.trainer import TraditionalTrainer, Trainer
from recbole.utils import set_color

_APPLIED = False


def atomic_torch_save(obj, path):
    """Write ``obj`` with ``torch.save`` to a temp file beside ``path``, then rename over it."""
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=".tmp-", suffix=".pth")
    os.close(fd)
    try:
        torch.save(obj, tmp)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise


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


def checkpoint_state(trainer, epoch):
    """RecBole's checkpoint keys, holding only tensors and plain values."""
    return {
        "config": plain_config(trainer.config),
        "epoch": int(epoch),
        "cur_step": int(trainer.cur_step),
        "best_valid_score": float(trainer.best_valid_score),
        "state_dict": trainer.model.state_dict(),
        "other_parameter": trainer.model.other_parameter(),
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


def apply():
    """Install the shims (idempotent)."""
    global _APPLIED
    if _APPLIED:
        return
    Trainer._save_checkpoint = _save_weights_only_checkpoint
    TraditionalTrainer.__init__ = _traditional_trainer_init(TraditionalTrainer.__init__)
    _APPLIED = True
