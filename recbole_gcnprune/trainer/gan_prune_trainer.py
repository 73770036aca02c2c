"""GANPruneTrainer: teacher -> principal-basis rotation -> channel selection -> physical pruning
-> fine-tuning.

Each phase is one short method on top of RecBole's ``Trainer``; training and early stopping are
RecBole's own ``fit`` (called through ``super()``), once for the teacher and once for the
fine-tuning. Phases finished by an earlier run are reused: the teacher from a cache keyed by
everything that shapes it (shared by every criterion and ratio), the selection and the
fine-tuned model from this run's folder.
"""

import math
import os
from time import time

import numpy as np
import torch
from recbole.trainer import Trainer
from recbole.utils import init_seed, set_color

from recbole_gcnprune.atomic import atomic_torch_save, atomic_write_json
from recbole_gcnprune.determinism import deterministic_algorithms
from recbole_gcnprune.errors import ConfigError
from recbole_gcnprune.model.gcn_prune_gan import EMBEDDING_GROUP
from recbole_gcnprune.pruning.checkpoint import (
    TEACHER_HINT,
    load_into,
    load_teacher,
    read_checkpoint,
)
from recbole_gcnprune.pruning.distill import RankingDistillation
from recbole_gcnprune.pruning.gan_search import AdversarialMaskSearch, SearchSettings
from recbole_gcnprune.pruning.groups import allocated_widths, hard_masks, select_channels
from recbole_gcnprune.pruning.importance import (
    KeepProbabilityImportance,
    MagnitudeImportance,
    RandomImportance,
    TaylorImportance,
)
from recbole_gcnprune.pruning.report import size_report
from recbole_gcnprune.pruning.rotation import rotate_to_principal_basis
from recbole_gcnprune.pruning.surgery import prune_channels
from recbole_gcnprune.settings import PruneSettings
from recbole_gcnprune.version import code_version
from recbole_gcnprune.trainer.phase_resume import PhaseResume
from recbole_gcnprune.trainer.replayed_eval import replayable
from recbole_gcnprune.trainer.run_keys import run_key, teacher_key
from recbole_gcnprune.trainer.search_validation import SearchValidation


def plain_metrics(result):
    """A RecBole result dict with numpy scalars turned into floats."""
    return {k: float(v) for k, v in (result or {}).items()}


def _unless_none(value, default):
    return default if value is None else value


# Offsets added to ``seed`` for the phases after the teacher (which trains under RecBole's own
# seeding, right after the model is built). "fresh_weights": the fresh initialisation of the
# pruned shape (shrink-and-perturb's, or the from-scratch models'), drawn the same whatever the
# selection drew before it, so criteria that keep the same channels start from the same weights.
PHASE_SEED_OFFSETS = {"selection": 1, "finetune": 2, "fresh_weights": 3}


class GANPruneTrainer(PhaseResume, Trainer):
    """Trains GCNPruneGAN's teacher, prunes it by ``prune_criterion`` and fine-tunes it."""

    def __init__(self, config, model):
        super().__init__(config, model)
        self.seed, self.reproducibility = config["seed"], config["reproducibility"]
        self.settings = settings = PruneSettings.from_config(config)
        self.criterion = settings.prune_criterion
        self.prune_ratio = settings.prune_ratio
        self.eval_replays = {}  # validation loaders' batches, built once (replayed_eval.py)
        self.search_settings = SearchSettings(
            epochs=settings.search_epochs,
            keep_fraction=1.0 - self.prune_ratio,
            allocation=settings.prune_allocation,
            adv_weight=settings.adv_weight,
            distill_weight=settings.distill_weight,
            budget_weight=settings.budget_weight,
            student_lr=_unless_none(settings.search_learning_rate, config["learning_rate"]),
            generator_lr=settings.generator_lr,
            discriminator_lr=settings.discriminator_lr,
            tau_start=settings.tau_start,
            tau_end=settings.tau_end,
            n_items_sampled=settings.n_items_sampled,
            seed=self.seed,
            deterministic=self.reproducibility,
        )
        base = os.path.join(self.checkpoint_dir, "gcnprune")
        name = f"{config['model']}-{config['dataset']}"
        self.teacher_file = os.path.join(base, "teachers", f"{name}-{teacher_key(config)}.pth")
        self.run_dir = os.path.join(base, "runs", f"{name}-{run_key(config)}")
        self.pruning = None
        self.teacher_embeddings = None
        self.distillation = None
        self.report = {"code_version": code_version(),
                       "criterion": self.criterion, "prune_ratio": self.prune_ratio,
                       "run_dir": self.run_dir, "teacher_file": None}

    # ----------------------------------------------------------------------------- pipeline
    def fit(self, train_data, valid_data=None, verbose=True, saved=True, show_progress=False,
            callback_fn=None):
        """Every phase, under ``reproducibility``, with torch's deterministic kernels: RecBole
        seeds the random streams, but with 2 CPU threads the same fine-tuning still ends in
        different models (``python -m bench.determinism finetune``)."""
        with deterministic_algorithms(self.reproducibility):
            return self._fit_phases(train_data, valid_data, verbose, saved, show_progress,
                                    callback_fn)

    def _fit_phases(self, train_data, valid_data, verbose, saved, show_progress, callback_fn):
        if self.criterion == "none":
            return self._dense_only(train_data, valid_data, verbose, show_progress)
        os.makedirs(self.run_dir, exist_ok=True)
        self.report["dense"] = size_report(self.model)
        done = self._resume_finetune()
        if done is None:
            if self._selection_finished():
                if self._distills():
                    self._teacher(train_data, valid_data, verbose, show_progress)
                self._resume_selection()
            else:
                self._prune(self._select(train_data, valid_data, verbose, show_progress))
            done = self._finetune(train_data, valid_data, verbose, saved, show_progress, callback_fn)
        self.best_valid_score, self.best_valid_result = done
        self.report["pruned"] = size_report(self.model)
        atomic_write_json(os.path.join(self.run_dir, "report.json"), self.report)
        return done

    def _dense_only(self, train_data, valid_data, verbose, show_progress):
        """``prune_criterion: none`` is the teacher phase alone, through the same cache: a dense
        run and the pruned runs of the same settings share one trained model."""
        self.report["dense"] = size_report(self.model)
        self._teacher(train_data, valid_data, verbose, show_progress)
        self.saved_model_file = self.report["teacher_file"]
        meta = self.report["teacher"]
        if "best_valid_score" in meta:
            self.best_valid_score = meta["best_valid_score"]
            self.best_valid_result = meta["best_valid_result"]
        else:  # a teacher_checkpoint without our metadata: validate it once
            self.best_valid_score, self.best_valid_result = self._valid_epoch(
                valid_data, show_progress)
        return self.best_valid_score, self.best_valid_result

    def _select(self, train_data, valid_data, verbose, show_progress):
        """Phase 1+2: teacher, then kept indices per group under the budget. train_small's and
        distill_small's widths come from the allocation (distill_small's global one from the gan
        search on the teacher; train_small, which has no teacher to allocate with, takes the
        frequency rule's widths instead), their channels are re-initialised."""
        if self.settings.from_scratch:
            if self._distills():  # distill_small: the teacher is the distillation target only
                self._teacher(train_data, valid_data, verbose, show_progress)
            self._seed_phase(train_data, "selection")
            if self.settings.searches:
                kept = self._scored_selection(train_data, valid_data)
                return {name: list(range(len(k))) for name, k in kept.items()}
            self._split_into_buckets()
            allocation = self.settings.prune_allocation
            if allocation == "global":  # train_small: no teacher to score channels with
                allocation = "frequency" if self.model.bucketed else "uniform"
            widths = allocated_widths(self.model.channel_groups(), self.prune_ratio, allocation,
                                      self.model.group_popularity())
            return {name: list(range(width)) for name, width in widths.items()}
        self._teacher(train_data, valid_data, verbose, show_progress)
        self._seed_phase(train_data, "selection")
        return self._scored_selection(train_data, valid_data)

    def _scored_selection(self, train_data, valid_data):
        """Rotation, buckets, the criterion's scores and the allocation's choice."""
        start = time()
        if self.settings.prune_rotation == "pca":
            self._rotate_teacher()
        self._split_into_buckets()
        kept = self._allocate(
            self._importance(train_data, valid_data)(self.model, self.model.channel_groups()))
        self.report["selection_seconds"] = time() - start
        return kept

    def _split_into_buckets(self):
        """Allocations other than uniform: one channel group per popularity bucket (a model with
        layer transforms keeps its own groups: their channels are shared by every row)."""
        if self.settings.prune_allocation == "uniform" or self.model.transforms:
            return
        self.model.split_into_buckets(self.settings.popularity_buckets)
        self.report["buckets"] = {
            "rows": {g.name: g.producers[0].num_embeddings for g in self.model.channel_groups()},
            "mean_degree": {k: round(v, 3) for k, v in self.model.group_popularity().items()}}

    def _allocate(self, scores):
        """Kept channels of every group under the budget, as ``prune_allocation`` spends it."""
        return select_channels(self.model.channel_groups(), scores, self.prune_ratio,
                               self.settings.prune_allocation, self.model.group_popularity())

    def _rotate_teacher(self):
        """Principal-basis rotation of the embedding channels. The function is unchanged, so the
        teacher's captured embeddings (used through their dot products only) stay as they are."""
        shares = rotate_to_principal_basis(self.model, EMBEDDING_GROUP, *self.teacher_embeddings)
        self.report["rotation"] = {"basis": "pca", "channel_energy": [round(s, 6) for s in shares]}

    def _importance(self, train_data, valid_data):
        if self.criterion == "magnitude":
            return MagnitudeImportance()
        if self.criterion == "random":
            return RandomImportance(self.seed)
        if self.criterion == "taylor":
            self.model.train()
            return TaylorImportance(
                train_data, lambda batch: self.model.calculate_loss(batch.to(self.device)),
                self.settings.taylor_batches)
        return KeepProbabilityImportance(self._gan_search(train_data, valid_data))

    def _gan_search(self, train_data, valid_data):
        """Adversarial search, validated as ``SearchValidation`` says (when there is validation
        data); the best validation's student weights and keep-probabilities are kept. The
        search starts from the channels' magnitude selection and keeps it unless one of its
        own validates better (a learned allocation can collapse a side: every item bucket at
        one channel on Book-Crossing, seed 2021, at 10% kept)."""
        search = AdversarialMaskSearch(self.model, self.teacher_embeddings, self.search_settings)
        self.logger.info(set_color("GAN mask search", "green") + f": {self.search_settings}")
        validation = SearchValidation(
            self.model, lambda probs: self._pruned_valid_score(valid_data, probs),
            self.eval_step, self.search_settings.epochs, self.settings.search_stopping_step,
            self.valid_metric_bigger, search.history)
        if valid_data is not None:
            self.report["search_start_valid_score"] = validation.start(
                MagnitudeImportance()(self.model, self.model.channel_groups()))
        keep_probabilities = search.run(train_data, None if valid_data is None else validation)
        chosen = validation.chosen
        if chosen is not None:
            self.model.load_state_dict(chosen["state"])
            self.model.drop_cached_embeddings()
            keep_probabilities = chosen["probs"]
            self.report["search_best_epoch"] = chosen["epoch"]
        self.report["search_history"] = search.history
        return keep_probabilities

    def _pruned_valid_score(self, valid_data, keep_probabilities):
        """Validation score of the student under hard top-k masks (= the pruned model)."""
        return self._kept_valid_score(valid_data, self._allocate(keep_probabilities))

    def _kept_valid_score(self, valid_data, kept):
        """Validation score of the model hard-masked to the ``kept`` channels of every group (the
        pruned model before fine-tuning)."""
        self.model.set_channel_masks(hard_masks(self.model.channel_groups(), kept, self.device))
        try:
            score, _ = self._valid_epoch(valid_data)
        finally:
            self.model.set_channel_masks({})
        return score

    def _prune(self, kept):
        """Phase 3: physical removal; train_small and distill_small re-initialise the small model."""
        prune_channels(self.model, kept)
        self._seed_phase(None, "fresh_weights")
        if self.settings.from_scratch:
            self.model._init_weights()
        elif self.settings.inherit_weight < 1:
            self._shrink_and_perturb()
        self.pruning = {
            "criterion": self.criterion,
            "prune_ratio": self.prune_ratio,
            "widths": {name: len(idx) for name, idx in kept.items()},
            "kept": kept,
            "rotation": self.report.get("rotation"),
        }
        self.report["kept"] = self.pruning["widths"]
        self.logger.info(set_color("pruned", "green") + f": widths {self.pruning['widths']}")
        atomic_torch_save(
            {"state_dict": self.model.state_dict(), "pruning": self.pruning,
             "selection_report": self._selection_report()},
            os.path.join(self.run_dir, "selection.pth"),
        )

    @torch.no_grad()
    def _shrink_and_perturb(self):
        """Start fine-tuning from ``inherit_weight * inherited + (1 - inherit_weight) * fresh``
        for every tensor a fresh model initialises (Ash & Adams, "On Warm-Starting Neural
        Network Training", NeurIPS 2020: warm-started weights generalise worse than fresh ones;
        shrinking them and adding fresh-init noise closes the gap)."""
        inherited = {k: v.clone() for k, v in self.model.named_parameters()}
        self.model._init_weights()
        weight = self.settings.inherit_weight
        for name, tensor in self.model.named_parameters():
            tensor.mul_(1 - weight).add_(inherited[name], alpha=weight)

    def _finetune(self, train_data, valid_data, verbose, saved, show_progress, callback_fn):
        """Phase 4: RecBole's fit on the pruned model, with a fresh optimiser and early stopping."""
        self._start_finetune(train_data)
        start = time()
        schedule = self.eval_step, self.stopping_step
        self.eval_step, self.stopping_step = self._finetune_schedule()
        try:
            result = super().fit(train_data, valid_data, verbose, saved, show_progress, callback_fn)
        finally:
            self.eval_step, self.stopping_step = schedule
        self.report["finetune_seconds"] = time() - start
        self.distillation = None
        atomic_write_json(os.path.join(self.run_dir, "finetune.json"),
                          {"best_valid_score": float(result[0]),
                           "best_valid_result": plain_metrics(result[1])})
        return result

    def _start_finetune(self, train_data):
        """The fine-tuning's seeding, fresh optimiser (at its own rate) and distillation."""
        self._seed_phase(train_data, "finetune")
        self._reset_training_state(os.path.join(self.run_dir, "finetune.pth"),
                                   self.settings.finetune_learning_rate)
        self.distillation = self._finetune_distillation() if self._distills() else None

    def _finetune_schedule(self):
        """(eval_step, stopping_step) of fine-tuning: validation every ``finetune_eval_step``
        epochs (default: ``eval_step``), with the same patience in epochs as the teacher's;
        unchanged when ``eval_step`` <= 0 (no validation at all)."""
        if self.settings.finetune_eval_step is None or self.eval_step <= 0:
            return self.eval_step, self.stopping_step
        step = min(self.settings.finetune_eval_step, self.epochs)
        return step, math.ceil(self.stopping_step * self.eval_step / step)

    def _valid_epoch(self, valid_data, show_progress=False):
        """RecBole's validation, on batches built at the first validation and replayed after."""
        return super()._valid_epoch(replayable(valid_data, self.eval_replays), show_progress)

    # ------------------------------------------------------------------------------ teacher
    def _teacher(self, train_data, valid_data, verbose, show_progress):
        source = self.settings.teacher_checkpoint or self.teacher_file
        self.report["teacher_file"] = source
        if os.path.isfile(source):
            label = "teacher_checkpoint" if self.settings.teacher_checkpoint else "cached teacher"
            checkpoint = load_teacher(self.model, source, self.device, label)
            self.report["teacher"] = {**checkpoint.get("meta", {}), "cached": True}
            self.logger.info(set_color("teacher loaded", "green") + f": {source}")
            self._capture_teacher_embeddings()
            return
        if self.settings.teacher_checkpoint:
            raise ConfigError(f"teacher_checkpoint {self.settings.teacher_checkpoint} not found: "
                              f"{TEACHER_HINT}")
        self._reset_training_state(os.path.join(self.run_dir, "teacher-training.pth"))
        start = time()
        score, result = super().fit(train_data, valid_data, verbose, True, show_progress)
        load_into(self.model, read_checkpoint(self.saved_model_file, self.device))
        meta = {"best_valid_score": float(score), "best_valid_result": plain_metrics(result),
                "train_seconds": time() - start, "deterministic": self.reproducibility,
                "code_version": code_version()}
        atomic_torch_save({"state_dict": self.model.state_dict(), "meta": meta}, self.teacher_file)
        os.remove(self.saved_model_file)  # RecBole's training checkpoint: the teacher file has it
        self.report["teacher"] = {**meta, "cached": False}
        self._capture_teacher_embeddings()

    def _capture_teacher_embeddings(self):
        """The dense teacher's final embeddings, the reference of search and distillation."""
        self.model.eval()
        with torch.no_grad():
            self.teacher_embeddings = tuple(t.detach() for t in self.model.forward())
        self.model.drop_cached_embeddings()

    # ------------------------------------------------------------------------- distillation
    def _finetune_distillation(self):
        """The fine-tuning's ranking distillation from the teacher's captured embeddings."""
        return RankingDistillation(
            self.teacher_embeddings, self.search_settings.n_items_sampled,
            self.settings.distill_top_items, torch.Generator().manual_seed(self.seed),
        )

    def _distills(self):
        """Fine-tuning distils from the teacher for every criterion that starts from its weights,
        and for distill_small (the small model from scratch, taught by the teacher); train_small
        is the plain from-scratch reference."""
        return (self.settings.finetune_distill_weight > 0
                and self.criterion not in ("train_small", "none"))

    def _train_epoch(self, train_data, epoch_idx, loss_func=None, show_progress=False):
        if loss_func is None and self.distillation is not None:
            loss_func = self._distilled_loss
        return super()._train_epoch(train_data, epoch_idx, loss_func, show_progress)

    def _distilled_loss(self, interaction):
        """Ranking loss (+ L2) of the pruned model plus distillation from the dense teacher."""
        model = self.model
        model.drop_cached_embeddings()
        user_all, item_all = model.forward()
        user = interaction[model.USER_ID]
        rank = model.loss_from_embeddings(user_all, item_all, user, interaction[model.ITEM_ID],
                                          interaction[model.NEG_ITEM_ID])
        distill = self.distillation.loss(user, user_all, item_all)
        return rank + self.settings.finetune_distill_weight * distill

    # ------------------------------------------------------------------------------ helpers
    def _seed_phase(self, train_data, phase):
        """Seed the random streams a phase draws from (Python's, numpy's and torch's global ones,
        and the training loader's shuffle, when given) from ``seed`` and the phase, so it draws the
        same whether the phases before it ran in this process or were resumed or cached."""
        seed = self.seed + PHASE_SEED_OFFSETS[phase]
        init_seed(seed, self.reproducibility)
        if train_data is not None:
            train_data.generator.manual_seed(seed)

    def _reset_training_state(self, saved_model_file, learning_rate=None):
        """Fresh optimiser over the live parameters (at ``learning_rate``, default the
        config's) and fresh early-stopping state."""
        self.model.drop_cached_embeddings()
        self.optimizer = self._build_optimizer(learning_rate=learning_rate or self.learning_rate)
        self.start_epoch, self.cur_step = 0, 0
        self.best_valid_score = -np.inf if self.valid_metric_bigger else np.inf
        self.best_valid_result = None
        self.saved_model_file = saved_model_file

    @property
    def checkpoint_metadata(self):
        """Plain metadata compat's checkpoint writer stores beside the state dict."""
        return {"pruning": self.pruning} if self.pruning is not None else {}
