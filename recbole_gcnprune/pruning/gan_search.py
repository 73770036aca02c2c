"""Adversarial mask search (GAL-style, Lin et al. CVPR 2019) for a graph recommender.

Per training batch:
1. the generator gives keep-logits; a Gumbel-sigmoid sample gives soft masks ``m_g``;
2. the student (the teacher's weights, trained on) runs under ``m``;
3. the discriminator learns teacher score profiles = real, student profiles = fake, on a fresh
   random sample of items per step (discriminator.py);
4. generator + student minimise
   ``rank + adv_weight * adv + distill_weight * KL(teacher || student)
   + budget_weight * budget`` where ``rank`` is the model's own ranking loss under the masks
   (left out for a frozen student, which cannot re-scale its scores: the loss would judge a
   channel set by how its scores sit against the loss's margin, not by how it ranks), ``adv``
   asks the discriminator to call the student real, the KL is between softmaxes of each user's
   standardised scores on the sampled items, and
   ``budget = sum_g (mean_c sigmoid(logit_gc) - keep)^2``.
The search returns ``sigmoid(logit)`` per channel; the caller keeps the top-k per group.

A ``student_lr`` of 0 freezes the student at the teacher's weights: only the generator (and the
discriminator) learn, and the search chooses channels without changing the weights that
fine-tuning starts from. The student's outputs under the masks are then, for a model whose masks
commute with its propagation (no layer transforms), the teacher's propagated embeddings times the
masks: each step scores a batch instead of propagating the graph.
"""

from dataclasses import dataclass
from logging import getLogger

import torch
import torch.nn.functional as F

from recbole_gcnprune.determinism import deterministic_algorithms
from recbole_gcnprune.pruning.discriminator import ProfileDiscriminator, score_profiles
from recbole_gcnprune.pruning.distill import RankingDistillation, profile_kl
from recbole_gcnprune.pruning.frozen_student import FrozenStudent, parameters_frozen
from recbole_gcnprune.pruning.generator import (
    MaskGenerator,
    annealed_tau,
    channel_descriptors,
    gumbel_sigmoid,
)

@dataclass(frozen=True)
class SearchSettings:
    epochs: int
    keep_fraction: float
    adv_weight: float
    distill_weight: float
    budget_weight: float
    student_lr: float
    generator_lr: float
    discriminator_lr: float
    tau_start: float = 1.0
    tau_end: float = 0.1
    n_items_sampled: int = 128
    max_users: int = 256
    seed: int = 0
    deterministic: bool = False

    @property
    def rank_weight(self):
        """The student's own ranking loss counts only when the student trains."""
        return 0.0 if self.student_lr == 0 else 1.0


class AdversarialMaskSearch:
    """Runs the search on ``student`` against fixed teacher embeddings."""

    def __init__(self, student, teacher_embeddings, settings):
        self.student = student
        self.settings = settings
        self.rng = torch.Generator().manual_seed(settings.seed)
        self.distillation = RankingDistillation(
            teacher_embeddings, settings.n_items_sampled, 0, self.rng,
            settings.max_users,
        )
        self.groups = student.channel_groups()
        device = self.distillation.teacher_user.device
        self.generator = MaskGenerator({g.name: g.width for g in self.groups}).to(device)
        self.discriminator = ProfileDiscriminator(settings.n_items_sampled).to(device)
        self.frozen = settings.student_lr == 0
        self.opt_student = None if self.frozen else torch.optim.Adam(
            student.parameters(), lr=settings.student_lr)
        # a frozen student's weights never change: its descriptors are computed once, and a model
        # whose masks commute with its propagation is read off the teacher's (FrozenStudent)
        self.frozen_descriptors = self._weight_descriptors() if self.frozen else None
        self.frozen_student = (FrozenStudent(student) if self.frozen
                               and student.masks_commute_with_propagation() else None)
        self.opt_generator = torch.optim.Adam(self.generator.parameters(), lr=settings.generator_lr)
        self.opt_discriminator = torch.optim.Adam(
            self.discriminator.parameters(), lr=settings.discriminator_lr
        )
        self.history = []

    def keep_probabilities(self):
        """``{group: sigmoid(logits)}`` under the student's current weights."""
        with torch.no_grad():
            logits = self.generator(self._descriptors())
        return {name: torch.sigmoid(v).cpu() for name, v in logits.items()}

    def run(self, train_data, end_of_epoch=None):
        """Search for ``settings.epochs`` epochs; ``end_of_epoch(epoch, keep_probabilities)``
        (optional) is called after each epoch and stops the search by returning True."""
        with deterministic_algorithms(self.settings.deterministic), \
                parameters_frozen(self.student, self.frozen):
            return self._run(train_data, end_of_epoch)

    def _run(self, train_data, end_of_epoch):
        steps = max(1, self.settings.epochs * len(train_data))
        step, device = 0, self.distillation.teacher_user.device
        for epoch in range(self.settings.epochs):
            sums = {}
            self.student.train()
            for interaction in train_data:
                tau = annealed_tau(step, steps, self.settings.tau_start, self.settings.tau_end)
                for key, value in self._step(interaction.to(device), tau).items():
                    sums[key] = sums.get(key, 0.0) + value
                step += 1
            keep = self._log_epoch(epoch, {k: v / max(1, len(train_data)) for k, v in sums.items()})
            self.student.set_channel_masks({})
            if end_of_epoch is not None and end_of_epoch(epoch, keep):
                break
        return self.keep_probabilities()

    def _descriptors(self):
        return self.frozen_descriptors or self._weight_descriptors()

    def _weight_descriptors(self):
        return {g.name: channel_descriptors(g) for g in self.groups}

    def _student_outputs(self, masks):
        """The student's final embeddings under ``masks`` (tensors, or ``MaskedRows``)."""
        if self.frozen_student is None:
            self.student.set_channel_masks(masks)
            return self.student.forward()
        return self.frozen_student.outputs(masks)

    def _step(self, interaction, tau):
        s = self.settings
        logits = self.generator(self._descriptors())
        masks = {name: gumbel_sigmoid(v, tau, self.rng) for name, v in logits.items()}
        user_all, item_all = self._student_outputs(masks)
        user = interaction[self.student.USER_ID]
        rank = (self._rank(interaction, user_all, item_all) if s.rank_weight
                else torch.zeros((), device=user.device))
        _, (teacher_profiles, student_profiles) = self.distillation.users_and_profiles(
            user, user_all, item_all
        )
        real, fake = score_profiles(teacher_profiles, student_profiles)

        d_loss = self._discriminator_step(real, fake)
        adv = F.binary_cross_entropy_with_logits(
            self.discriminator(fake), torch.ones(fake.shape[0], device=fake.device)
        )
        distill = profile_kl(teacher_profiles, student_profiles)  # standardises them itself
        budget = sum(
            (torch.sigmoid(v).mean() - s.keep_fraction) ** 2 for v in logits.values()
        )
        loss = (s.rank_weight * rank + s.adv_weight * adv + s.distill_weight * distill
                + s.budget_weight * budget)
        self.student.zero_grad(set_to_none=True)
        self.opt_generator.zero_grad()
        loss.backward()
        if self.opt_student is not None:
            self.opt_student.step()
        self.opt_generator.step()
        return {"rank": rank.item(), "adv": adv.item(), "distill": distill.item(),
                "budget": budget.item(), "disc": d_loss}

    def _rank(self, interaction, user_all, item_all):
        student = self.student
        return student.loss_from_embeddings(
            user_all, item_all, interaction[student.USER_ID],
            interaction[student.ITEM_ID], interaction[student.NEG_ITEM_ID],
        ).sum()

    def _discriminator_step(self, real, fake):
        ones = torch.ones(real.shape[0], device=real.device)
        loss = F.binary_cross_entropy_with_logits(
            self.discriminator(real), ones
        ) + F.binary_cross_entropy_with_logits(self.discriminator(fake.detach()), 0 * ones)
        self.opt_discriminator.zero_grad()
        loss.backward()
        self.opt_discriminator.step()
        return loss.item()

    def _log_epoch(self, epoch, means):
        probs = self.keep_probabilities()
        kept = {n: float(p.mean()) for n, p in probs.items()}
        record = {"epoch": epoch, **{k: round(v, 5) for k, v in means.items()},
                  "kept_fraction": {n: round(v, 4) for n, v in kept.items()}}
        self.history.append(record)
        getLogger().info(f"mask search epoch {epoch}: {record}")
        return probs
