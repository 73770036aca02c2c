"""Popularity buckets: mixed-width tables, their pruning, budget and reload, on tiny data."""

import copy

import pytest
import torch
from conftest import all_scores

from recbole_gcnprune.model.buckets import popularity_buckets
from recbole_gcnprune.model.gcn_prune_gan import bucket_group
from recbole_gcnprune.pruning.checkpoint import load_into
from recbole_gcnprune.pruning.groups import (
    frequency_widths,
    hard_masks,
    kept_parameters,
    parameter_budget,
    select_channels,
)
from recbole_gcnprune.pruning.importance import MagnitudeImportance, channel_cost
from recbole_gcnprune.pruning.surgery import prune_channels

N_BUCKETS = 3
# mixed widths, and buckets that keep different channels of the shared basis
KEPT = {bucket_group("user", 0): [0, 1, 2, 3, 4], bucket_group("user", 1): [1, 6],
        bucket_group("user", 2): [7], bucket_group("item", 0): [0, 2, 3, 5],
        bucket_group("item", 1): [0, 1, 2], bucket_group("item", 2): [4]}


@pytest.fixture
def bucketed(tiny_gcn):
    model = copy.deepcopy(tiny_gcn[3]).eval()
    model.split_into_buckets(N_BUCKETS)
    return model


def test_popularity_buckets_split_interactions_evenly_head_first():
    degrees = torch.tensor([1, 50, 3, 20, 2, 30, 0, 10]).numpy()
    buckets = popularity_buckets(degrees, 3)
    assert buckets.tolist() == [2, 0, 2, 2, 2, 1, 2, 2]  # 50 | 30 | 36 interactions
    assert popularity_buckets([0, 0, 0], 3).tolist() == [0, 1, 2]


def test_splitting_into_buckets_changes_nothing_the_model_computes(tiny_gcn):
    dense = copy.deepcopy(tiny_gcn[3]).eval()
    model = copy.deepcopy(dense)
    model.split_into_buckets(N_BUCKETS)
    assert [g.name for g in model.channel_groups()] == list(KEPT)
    torch.testing.assert_close(all_scores(model), all_scores(dense))


def test_pruned_buckets_score_as_the_hard_masked_model(bucketed):
    masked = copy.deepcopy(bucketed)
    masked.set_channel_masks(hard_masks(masked.channel_groups(), KEPT))
    pruned = prune_channels(copy.deepcopy(bucketed), KEPT)
    torch.testing.assert_close(all_scores(pruned), all_scores(masked))
    assert pruned.user_embedding.embedding_dim == 8  # the union of kept channels: 0..7
    widths = {g.name: g.width for g in pruned.channel_groups()}
    assert widths == {name: len(k) for name, k in KEPT.items()}


def test_pruned_bucket_tables_hold_the_kept_columns(bucketed):
    before = {g.name: g.producers[0].weight.detach().clone() for g in bucketed.channel_groups()}
    pruned = prune_channels(copy.deepcopy(bucketed), KEPT)
    for group in pruned.channel_groups():
        torch.testing.assert_close(group.producers[0].weight, before[group.name][:, KEPT[group.name]])


def test_shared_width_shrinks_to_the_channels_some_bucket_keeps(bucketed):
    kept = {name: [c for c in k if c < 3] or [0] for name, k in KEPT.items()}
    pruned = prune_channels(copy.deepcopy(bucketed), kept)
    assert pruned.user_embedding.embedding_dim == pruned.item_embedding.embedding_dim == 3
    assert pruned.user_embedding.buckets[1].channels.tolist() == [1]


def test_parameter_count_is_the_analytic_count_per_bucket(bucketed):
    pruned = prune_channels(copy.deepcopy(bucketed), KEPT)
    sizes = {side: t.bucket_sizes() for side, t in pruned.tables().items()}
    expected = sum(sizes[side][b] * len(KEPT[bucket_group(side, b)])
                   for side in sizes for b in range(N_BUCKETS))
    assert sum(p.numel() for p in pruned.parameters()) == expected
    assert kept_parameters(bucketed.channel_groups(), KEPT) == expected


@pytest.mark.parametrize("allocation", ["global", "frequency", "uniform"])
@pytest.mark.parametrize("ratio", [0.5, 0.6, 0.75])
def test_allocations_meet_the_budget(bucketed, allocation, ratio):
    groups = bucketed.channel_groups()
    scores = MagnitudeImportance()(bucketed, groups)
    popularity = bucketed.group_popularity()
    kept = select_channels(groups, scores, ratio, allocation, popularity)
    budget = parameter_budget(groups, ratio)
    spent = kept_parameters(groups, kept)
    if allocation == "uniform":
        return
    assert spent <= budget
    left_out = [channel_cost(g) for g in groups if len(kept[g.name]) < g.width]
    assert not left_out or budget - spent < min(left_out)


@pytest.mark.parametrize("allocation", ["global", "frequency"])
def test_a_budget_below_one_channel_per_bucket_is_refused(bucketed, allocation):
    groups = bucketed.channel_groups()
    with pytest.raises(ValueError, match="cannot keep one channel per group"):
        select_channels(groups, MagnitudeImportance()(bucketed, groups), 0.95, allocation,
                        bucketed.group_popularity())


def test_global_selection_spends_on_the_best_channel_per_parameter(bucketed):
    groups = bucketed.channel_groups()
    scores = {g.name: torch.zeros(g.width) for g in groups}
    scores[groups[0].name] = torch.arange(8.0, 0.0, -1.0)  # only the head users' channels count
    kept = select_channels(groups, scores, 0.75, "global")
    assert len(kept[groups[0].name]) > max(len(kept[g.name]) for g in groups[1:])


def test_frequency_widths_grow_with_popularity(bucketed):
    groups = bucketed.channel_groups()
    popularity = {g.name: 1000.0 / 10 ** (i % N_BUCKETS) for i, g in enumerate(groups)}
    widths = frequency_widths(groups, popularity, parameter_budget(groups, 0.5))
    users = [widths[bucket_group("user", b)] for b in range(N_BUCKETS)]
    assert users == sorted(users, reverse=True) and users[0] > users[-1]


def test_bucketed_checkpoint_reloads_with_weights_only(bucketed, tiny_gcn, tmp_path):
    pruned = prune_channels(copy.deepcopy(bucketed), KEPT)
    path = tmp_path / "pruned.pth"
    torch.save({"state_dict": pruned.state_dict(),
                "pruning": {"widths": {g.name: g.width for g in pruned.channel_groups()}}}, path)
    fresh = copy.deepcopy(tiny_gcn[3]).eval()
    load_into(fresh, torch.load(path, weights_only=True))
    torch.testing.assert_close(all_scores(fresh), all_scores(pruned))
    assert fresh.user_embedding.buckets[1].channels.tolist() == \
        pruned.user_embedding.buckets[1].channels.tolist()


def test_a_bad_bucket_map_is_refused(tiny_gcn):
    model = copy.deepcopy(tiny_gcn[3])
    with pytest.raises(ValueError, match="bucket map of shape"):
        model.split_into_buckets(None, {"user": torch.zeros(3, dtype=torch.long),
                                        "item": torch.zeros(3, dtype=torch.long)})


def test_frozen_student_parts_sum_to_the_masked_model(bucketed):
    from recbole_gcnprune.pruning.frozen_student import FrozenStudent

    masks = {g.name: torch.rand(g.width) for g in bucketed.channel_groups()}
    users, items = FrozenStudent(bucketed).outputs(masks)
    bucketed.set_channel_masks(masks)
    with torch.no_grad():
        expected_users, expected_items = bucketed.forward()
    index = torch.arange(bucketed.n_users)
    torch.testing.assert_close(users[index], expected_users)
    torch.testing.assert_close(items.T.T, expected_items)


def test_a_checkpoint_that_stored_the_derived_positions_still_loads(bucketed, tiny_gcn):
    pruned = prune_channels(copy.deepcopy(bucketed), KEPT)
    state = pruned.state_dict()
    for side, table in pruned.tables().items():
        index = table.bucket_index
        positions = torch.empty_like(index)  # each row's place in its bucket, as then stored
        for b in range(len(table.buckets)):
            rows = (index == b).nonzero().squeeze(1)
            positions[rows] = torch.arange(rows.numel())
        state[f"{side}_embedding.row_in_bucket"] = positions
        state[f"{side}_embedding.bucket_of_row"] = table.bucket_index.clone()  # int64, as then
    fresh = copy.deepcopy(tiny_gcn[3]).eval()
    load_into(fresh, {"state_dict": state,
                      "pruning": {"widths": {g.name: g.width for g in pruned.channel_groups()}}})
    torch.testing.assert_close(all_scores(fresh), all_scores(pruned))
