"""Ranking distillation from the dense teacher: used by the mask search and by fine-tuning.

A student is compared with the teacher on per-user *score profiles*: each user's scores over the
teacher's own top items for that user plus a shared random sample of items. Both rows are
standardised (the pruned student's scores live on a smaller scale) and the loss is
``KL(softmax(teacher) || softmax(student))`` per user, so it weighs the head of the teacher's
ranking, which is what top-K metrics judge. Top items come from the full catalogue, computed once
(``users x n_top`` indices).
"""

import torch
import torch.nn.functional as F


def standardise(x):
    """Zero mean, unit std per row (scale-free comparison of teacher and student scores)."""
    return (x - x.mean(dim=1, keepdim=True)) / (x.std(dim=1, keepdim=True) + 1e-6)


def profile_kl(teacher_profiles, student_profiles):
    """``KL(teacher || student)`` between softmaxes of standardised profiles, mean over users."""
    return F.kl_div(
        F.log_softmax(standardise(student_profiles), dim=1),
        F.log_softmax(standardise(teacher_profiles), dim=1),
        log_target=True,
        reduction="batchmean",
    )


def teacher_top_items(user_embeddings, item_embeddings, n_top, chunk=4096):
    """``users x n_top`` indices of each user's highest-scored items under the teacher."""
    n_top = min(n_top, item_embeddings.shape[0])
    tops = [
        torch.topk(user_embeddings[start:start + chunk] @ item_embeddings.T, n_top, dim=1).indices
        for start in range(0, user_embeddings.shape[0], chunk)
    ]
    return torch.cat(tops)


class RankingDistillation:
    """Teacher embeddings (fixed) and the sampling of profile items for a batch of users."""

    def __init__(self, teacher_embeddings, n_items_sampled, n_top, rng, max_users=256):
        self.teacher_user, self.teacher_item = (t.detach() for t in teacher_embeddings)
        self.n_items_sampled = n_items_sampled
        self.max_users = max_users
        self.rng = rng
        self.top_items = (
            teacher_top_items(self.teacher_user, self.teacher_item, n_top) if n_top else None
        )

    def profile_items(self, users):
        """``len(users) x (n_top + n_items_sampled)`` item indices: teacher's top + random."""
        n_items = self.teacher_item.shape[0]
        shared = torch.randint(n_items, (self.n_items_sampled,), generator=self.rng)
        shared = shared.to(users.device).expand(users.numel(), -1)
        if self.top_items is None:
            return shared
        return torch.cat([self.top_items[users], shared], dim=1)

    def sample_users(self, user):
        users = torch.unique(user)
        if users.numel() > self.max_users:
            pick = torch.randperm(users.numel(), generator=self.rng)[: self.max_users]
            users = users[pick.to(users.device)]
        return users

    def profiles(self, user, user_all, item_all):
        """Teacher and student score profiles of (a sample of) the batch's users."""
        return self.users_and_profiles(user, user_all, item_all)[1]

    def users_and_profiles(self, user, user_all, item_all):
        """The sampled users and their ``(teacher, student)`` profiles."""
        users = self.sample_users(user)
        return users, self.scores_on(users, self.profile_items(users), user_all, item_all)

    def scores_on(self, users, items, user_all, item_all):
        """Teacher and student scores of ``users`` on ``items`` (``len(users) x L`` indices)."""
        teacher = torch.einsum("ud,uld->ul", self.teacher_user[users], self.teacher_item[items])
        student = torch.einsum("ud,uld->ul", user_all[users], item_all[items])
        return teacher, student

    def loss(self, user, user_all, item_all):
        return profile_kl(*self.profiles(user, user_all, item_all))
