"""Ranking distillation from the teacher: profiles and loss (its use in fine-tuning is tested
with the trainer)."""

import torch

from recbole_gcnprune.pruning.distill import (
    RankingDistillation,
    profile_kl,
    teacher_top_items,
)


def test_profile_kl_is_scale_free_and_zero_only_for_the_same_ranking():
    teacher = torch.tensor([[3.0, 1.0, 0.0, -1.0]])
    torch.testing.assert_close(profile_kl(teacher, 0.1 * teacher + 5), torch.tensor(0.0))
    assert profile_kl(teacher, teacher.flip(1)) > 0.5


def test_teacher_top_items_match_a_full_sort():
    users, items = torch.randn(7, 4), torch.randn(11, 4)
    top = teacher_top_items(users, items, n_top=3, chunk=2)
    expected = torch.argsort(users @ items.T, dim=1, descending=True)[:, :3]
    torch.testing.assert_close(top, expected)


def test_profiles_hold_each_users_teacher_top_items_then_shared_random_items():
    teacher = (torch.randn(5, 4), torch.randn(9, 4))
    distillation = RankingDistillation(teacher, n_items_sampled=6, n_top=2,
                                       rng=torch.Generator().manual_seed(0))
    users = torch.tensor([0, 3])
    items = distillation.profile_items(users)
    assert items.shape == (2, 8)
    torch.testing.assert_close(items[:, :2], distillation.top_items[users])
    torch.testing.assert_close(items[0, 2:], items[1, 2:])
    t, s = distillation.profiles(torch.tensor([3, 0, 3]), *teacher)
    torch.testing.assert_close(t, s)
    assert distillation.loss(users, *teacher) < 1e-6
