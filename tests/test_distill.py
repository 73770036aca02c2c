"""Ranking distillation from the teacher: profiles and loss (its use in fine-tuning is tested
with the trainer)."""

import pytest
import torch

from recbole_gcnprune.pruning.distill import (
    RankingDistillation,
    own_item_scores,
    profile_kl,
    teacher_top,
)


def test_profile_kl_is_scale_free_and_zero_only_for_the_same_ranking():
    teacher = torch.tensor([[3.0, 1.0, 0.0, -1.0]])
    torch.testing.assert_close(profile_kl(teacher, 0.1 * teacher + 5), torch.tensor(0.0))
    assert profile_kl(teacher, teacher.flip(1)) > 0.5


def test_teacher_top_matches_a_full_sort():
    users, items = torch.randn(7, 4), torch.randn(11, 4)
    scores, top = teacher_top(users, items, n_top=3, chunk=2)
    full = users @ items.T
    torch.testing.assert_close(top, torch.argsort(full, dim=1, descending=True)[:, :3])
    torch.testing.assert_close(scores, full.gather(1, top))


def test_profiles_hold_each_users_teacher_top_items_then_shared_random_items():
    teacher = (torch.randn(5, 4), torch.randn(9, 4))
    distillation = RankingDistillation(teacher, n_items_sampled=6, n_top=2,
                                       rng=torch.Generator().manual_seed(0))
    users = torch.tensor([0, 3])
    shared = distillation.shared_items(users.device)
    items = distillation.profile_items(users, shared)
    assert items.shape == (2, 8)
    torch.testing.assert_close(items[:, :2], distillation.top_items[users])
    torch.testing.assert_close(items[0, 2:], shared)
    torch.testing.assert_close(items[1, 2:], shared)
    t, s = distillation.profiles(torch.tensor([3, 0, 3]), *teacher)
    torch.testing.assert_close(t, s)
    assert distillation.loss(users, *teacher) < 1e-6


def reference_profiles(distillation, users, items, user_all, item_all):
    """The profiles written out as per-user gathers (the formulation before the matrix products)."""
    def scores(u, i):
        return torch.einsum("ud,uld->ul", u[users], i[items])
    return scores(distillation.teacher_user, distillation.teacher_item), scores(user_all, item_all)


def test_profiles_and_their_gradients_equal_the_per_user_gathers():
    teacher = (torch.randn(6, 8), torch.randn(13, 8))
    student = [torch.randn(6, 3, requires_grad=True), torch.randn(13, 3, requires_grad=True)]
    distillation = RankingDistillation(teacher, n_items_sampled=4, n_top=5,
                                       rng=torch.Generator().manual_seed(1))
    user = torch.tensor([4, 1, 4, 0])
    state = distillation.rng.get_state()
    users, fast = distillation.users_and_profiles(user, *student)
    distillation.rng.set_state(state)
    same_users = distillation.sample_users(user)
    items = distillation.profile_items(same_users, distillation.shared_items(user.device))
    slow = reference_profiles(distillation, same_users, items, *student)
    torch.testing.assert_close(users, same_users)
    torch.testing.assert_close(fast, slow)
    fast_grads = torch.autograd.grad(profile_kl(*fast), student)
    slow_grads = torch.autograd.grad(profile_kl(*slow), student)
    torch.testing.assert_close(fast_grads, slow_grads)


@pytest.mark.parametrize("max_scores", [0, 10])  # the batched product, the whole catalogue
def test_own_item_scores_are_each_rows_dot_products(max_scores):
    rows, items = torch.randn(2, 3), torch.randn(5, 3)
    picked = torch.tensor([[4, 0], [1, 1]])
    expected = torch.stack([items[picked[r]] @ rows[r] for r in range(2)])
    torch.testing.assert_close(own_item_scores(rows, items, picked, max_scores), expected)


@pytest.mark.parametrize("max_scores", [0, 10])
def test_own_item_scores_gradients_equal_autograds_through_the_gathers(max_scores):
    """Both formulations (whole-catalogue product, batched product) differentiate as the same
    scores written as gathers, an item picked twice in a row (and by two rows) included."""
    rows = torch.randn(3, 4, dtype=torch.float64, requires_grad=True)
    items = torch.randn(6, 4, dtype=torch.float64, requires_grad=True)
    picked = torch.tensor([[5, 0, 5], [1, 2, 0], [0, 3, 4]])
    weights = torch.randn(3, 3, dtype=torch.float64)
    fast = torch.autograd.grad((own_item_scores(rows, items, picked, max_scores) * weights).sum(),
                               (rows, items))
    slow = torch.autograd.grad((torch.einsum("ud,uld->ul", rows, items[picked]) * weights).sum(),
                               (rows, items))
    torch.testing.assert_close(fast, slow)
    assert torch.autograd.gradcheck(lambda r, i: own_item_scores(r, i, picked, max_scores),
                                    (rows, items))


def test_own_item_scores_skips_the_gradient_of_a_frozen_input():
    rows, items = torch.randn(2, 3), torch.randn(5, 3, requires_grad=True)
    own_item_scores(rows, items, torch.tensor([[4, 0], [1, 2]])).sum().backward()
    assert rows.grad is None and items.grad.shape == items.shape
