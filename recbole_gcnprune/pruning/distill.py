"""Ranking distillation from the dense teacher: used by the mask search and by fine-tuning.

A student is compared with the teacher on per-user *score profiles*: each user's scores over the
teacher's own top items for that user plus a shared random sample of items. Both rows are
standardised (the pruned student's scores live on a smaller scale) and the loss is
``KL(softmax(teacher) || softmax(student))`` per user, so it weighs the head of the teacher's
ranking, which is what top-K metrics judge. Top items and their teacher scores come from the full
catalogue, computed once (``users x n_top`` each); per step the student's scores on them are read
off one matrix product (``own_item_scores``) and both models' scores on the shared items are one
matrix product each.
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


def teacher_top(user_embeddings, item_embeddings, n_top, chunk=4096):
    """``(scores, indices)``, both ``users x n_top``: each user's highest teacher scores and
    their items, best first."""
    n_top = min(n_top, item_embeddings.shape[0])
    tops = [
        torch.topk(user_embeddings[start:start + chunk] @ item_embeddings.T, n_top, dim=1)
        for start in range(0, user_embeddings.shape[0], chunk)
    ]
    return torch.cat([t.values for t in tops]), torch.cat([t.indices for t in tops])


def own_item_scores(user_rows, item_embeddings, items, max_scores=2**23):
    """``len(user_rows) x L``: each row's dot products with its own ``items`` (``len x L``).

    Read off the rows' scores on the whole catalogue (one matrix product) when that matrix holds
    at most ``max_scores`` scores (32 MB), else one batched product over the gathered items: on
    CPU both are several times faster, forward and backward, than an einsum over the gathered
    items, and the whole-catalogue product is the faster of the two (docs/experiments/distillation.md).
    """
    if user_rows.shape[0] * item_embeddings.shape[0] <= max_scores:
        return torch.gather(user_rows @ item_embeddings.T, 1, items)
    return torch.bmm(item_embeddings[items], user_rows.unsqueeze(2)).squeeze(2)


class RankingDistillation:
    """Teacher embeddings (fixed) and the sampling of profile items for a batch of users."""

    def __init__(self, teacher_embeddings, n_items_sampled, n_top, rng, max_users=256):
        self.teacher_user, self.teacher_item = (t.detach() for t in teacher_embeddings)
        self.n_items_sampled = n_items_sampled
        self.max_users = max_users
        self.rng = rng
        self.top_scores, self.top_items = (
            teacher_top(self.teacher_user, self.teacher_item, n_top) if n_top else (None, None)
        )

    def shared_items(self, device):
        """A fresh random sample of ``n_items_sampled`` items, the same for every user."""
        n_items = self.teacher_item.shape[0]
        return torch.randint(n_items, (self.n_items_sampled,), generator=self.rng).to(device)

    def profile_items(self, users, shared):
        """``len(users) x (n_top + n_items_sampled)`` item indices: teacher's top + ``shared``."""
        shared = shared.expand(users.numel(), -1)
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
        """The sampled users and their ``(teacher, student)`` scores on ``profile_items``."""
        users = self.sample_users(user)
        shared = self.shared_items(users.device)
        teacher, student = self.shared_scores(users, shared, user_all, item_all)
        if self.top_items is None:
            return users, (teacher, student)
        top = own_item_scores(user_all[users], item_all, self.top_items[users])
        return users, (torch.cat([self.top_scores[users], teacher], dim=1),
                       torch.cat([top, student], dim=1))

    def shared_scores(self, users, items, user_all, item_all):
        """Teacher and student scores of ``users`` on the same ``items`` (1-D): ``len(users) x
        len(items)`` each, one matrix product apiece."""
        teacher = self.teacher_user[users] @ self.teacher_item[items].T
        return teacher, user_all[users] @ item_all[items].T

    def loss(self, user, user_all, item_all):
        return profile_kl(*self.profiles(user, user_all, item_all))
