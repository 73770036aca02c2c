"""Resuming a pruning run from its folder: the phases an earlier run finished are loaded back.

A run folder (``GANPruneTrainer.run_dir``) holds ``selection.pth`` once the channels are chosen
and physically removed, ``finetune.pth`` + ``finetune.json`` once the fine-tuning ended, and
``report.json``; each checkpoint is a state dict plus plain pruning metadata (the kept widths and
indices), read with ``weights_only=True``.
"""

import json
import os

from recbole.utils import set_color

from recbole_gcnprune.pruning.checkpoint import load_into, read_checkpoint

SELECTION_FACTS = ("selection_seconds", "search_history", "search_best_epoch",
                   "search_start_valid_score")


class PhaseResume:
    """Mixin of ``GANPruneTrainer``: needs ``run_dir``, ``model``, ``device``, ``report`` and
    ``logger``; sets ``pruning`` (and ``saved_model_file`` when the fine-tuning is reused)."""

    def _selection_finished(self):
        return os.path.isfile(os.path.join(self.run_dir, "selection.pth"))

    def _selection_report(self):
        """What the selection recorded (its time, the search's history), saved with its
        checkpoint so that a run resumed after it still reports them (as plain JSON values: the
        checkpoint loads with ``weights_only=True``)."""
        facts = {k: self.report[k] for k in SELECTION_FACTS if k in self.report}
        return json.loads(json.dumps(facts, default=float))

    def _resume_selection(self):
        path = os.path.join(self.run_dir, "selection.pth")
        self.report.update(self._load_pruned(path).get("selection_report", {}))
        self.logger.info(set_color("resumed pruned model", "green") + f": {path}")

    def _load_pruned(self, path):
        """Shrink the model to a checkpoint of this run and load it, with its pruning metadata;
        the checkpoint read."""
        checkpoint = read_checkpoint(path, self.device)
        load_into(self.model, checkpoint)
        self.pruning = checkpoint["pruning"]
        self.report["kept"] = self.pruning["widths"]
        if self.pruning.get("rotation"):
            self.report["rotation"] = self.pruning["rotation"]
        return checkpoint

    def _resume_finetune(self):
        summary = os.path.join(self.run_dir, "finetune.json")
        checkpoint = os.path.join(self.run_dir, "finetune.pth")
        if not (os.path.isfile(summary) and os.path.isfile(checkpoint)):
            return None
        self._load_pruned(checkpoint)
        self.saved_model_file = checkpoint
        with open(summary, encoding="utf-8") as f:
            done = json.load(f)
        self._carry_over_report()
        self.logger.info(set_color("resumed fine-tuned model", "green") + f": {checkpoint}")
        return done["best_valid_score"], done["best_valid_result"]

    def _carry_over_report(self):
        """A resumed run reports what its reused phases recorded when they ran (their times
        included); ``resumed`` tells that none of them ran in this process."""
        path = os.path.join(self.run_dir, "report.json")
        if not os.path.isfile(path):
            return
        with open(path, encoding="utf-8") as f:
            previous = json.load(f)
        for key in ("teacher_file", "finetune_seconds", *SELECTION_FACTS):
            if key in previous:
                self.report[key] = previous[key]
        if "teacher" in previous:
            self.report["teacher"] = {**previous["teacher"], "cached": True}
        self.report["resumed"] = True
