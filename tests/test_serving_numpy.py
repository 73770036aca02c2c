"""The numpy parts of serving on their own: quantization, the stable top-k, hashed ids."""

import numpy as np
import pytest
import torch

from recbole_gcnprune.serving.errors import KeyFileError
from recbole_gcnprune.serving.low_rank import low_rank_vectors
from recbole_gcnprune.serving.quantize import dequantize, pack_int4, quantize, unpack_int4
from recbole_gcnprune.serving import ranking
from recbole_gcnprune.serving.ranking import top_k
from recbole_gcnprune.serving.user_ids import hash_token, key_check, read_key


@pytest.fixture
def rows():
    matrix = np.random.default_rng(0).standard_normal((40, 7)).astype(np.float32)
    matrix[3] = 0.0  # a row of zeros has scale 0
    return matrix


def test_float_dtypes_round_trip(rows):
    stored, scales = quantize(rows, "float32")
    assert scales is None and np.array_equal(dequantize(stored, None, "float32", 7), rows)
    stored, _ = quantize(rows, "float16")
    assert stored.dtype == np.float16
    torch.testing.assert_close(torch.from_numpy(dequantize(stored, None, "float16", 7)),
                               torch.from_numpy(rows), rtol=1e-3, atol=1e-3)


@pytest.mark.parametrize("dtype, levels", [("int8", 127), ("int4", 7)])
def test_per_row_symmetric_quantization_is_within_half_a_step(rows, dtype, levels):
    stored, scales = quantize(rows, dtype)
    assert scales.dtype == np.float32 and scales[3] == 0
    torch.testing.assert_close(torch.from_numpy(scales),
                               torch.from_numpy(np.abs(rows).max(axis=1) / levels))
    back = dequantize(stored, scales, dtype, 7)
    assert back.shape == rows.shape and not back[3].any()
    assert np.all(np.abs(back - rows) <= scales[:, None] / 2 + 1e-6)
    assert np.abs(back - rows).max() > 0  # lossy


def test_per_channel_quantization_has_one_scale_a_column_within_half_a_step(rows):
    stored, scales = quantize(rows, "int8-channel")
    assert stored.dtype == np.int8 and scales.shape == (rows.shape[1],)
    torch.testing.assert_close(torch.from_numpy(scales),
                               torch.from_numpy(np.abs(rows).max(axis=0) / 127))
    back = dequantize(stored, scales, "int8-channel", rows.shape[1])
    assert np.all(np.abs(back - rows) <= scales[None, :] / 2 + 1e-6)
    assert np.abs(back - rows).max() > 0  # lossy


def test_int4_packs_two_values_per_byte():
    levels = np.array([[-7, 7, 0, 3, -1], [1, 2, 3, 4, 5]], np.int8)
    packed = pack_int4(levels)
    assert packed.dtype == np.uint8 and packed.shape == (2, 3)
    assert packed[0, 0] == (1 << 4) | 15  # -7 + 8 = 1 high, 7 + 8 = 15 low
    assert np.array_equal(unpack_int4(packed, 5), levels)


def test_top_k_breaks_ties_by_the_lower_index_and_drops_excluded_items():
    scores = np.array([[1.0, 3.0, 3.0, -np.inf, 2.0, 3.0],
                       [-np.inf, -np.inf, 0.5, -np.inf, -np.inf, -np.inf]], np.float32)
    (first, first_scores), (second, _) = top_k(scores, 4)
    assert first.tolist() == [1, 2, 5, 4] and first_scores.tolist() == [3.0, 3.0, 3.0, 2.0]
    assert second.tolist() == [2]
    assert top_k(scores, 2)[0][0].tolist() == [1, 2]


def test_top_k_matches_a_full_stable_sort():
    scores = np.random.default_rng(1).integers(0, 6, (50, 30)).astype(np.float32)
    for k in (1, 7, 30, 45):
        for row, (indices, _) in zip(scores, top_k(scores, k)):
            assert indices.tolist() == np.argsort(-row, kind="stable")[:k].tolist()


def test_hashed_ids_are_keyed(tmp_path):
    key = tmp_path / "key"
    key.write_bytes(b"  secret\n")
    assert read_key(str(key)) == b"secret"
    digest = hash_token(b"secret", "u1")
    assert len(digest) == 64 and digest != hash_token(b"other", "u1")
    assert key_check(b"secret") != key_check(b"other")
    with pytest.raises(KeyFileError, match="not found"):
        read_key(str(tmp_path / "absent"))


def test_low_rank_vectors_reproduce_scores_of_that_rank():
    """Vectors of width 6 whose scores have rank 3: a rank-3 export scores exactly as they do."""
    rng = np.random.default_rng(1)
    users = rng.standard_normal((30, 3)) @ rng.standard_normal((3, 6))
    items = rng.standard_normal((25, 6))
    users_r, items_r, kept = low_rank_vectors(users.astype(np.float32),
                                              items.astype(np.float32), 3)
    assert users_r.shape == (30, 3) and items_r.shape == (25, 3) and users_r.dtype == np.float32
    torch.testing.assert_close(torch.from_numpy(users_r @ items_r.T),
                               torch.from_numpy((users @ items.T).astype(np.float32)),
                               rtol=1e-4, atol=1e-4)
    assert kept == pytest.approx(1.0)


def test_low_rank_vectors_are_the_best_approximation_of_their_rank():
    """Eckart-Young: no other rank-2 product (here: the first two columns) is closer, and the
    kept share is the squared norm the approximation keeps."""
    rng = np.random.default_rng(2)
    users, items = rng.standard_normal((40, 5)), rng.standard_normal((35, 5))
    scores = users @ items.T
    users_r, items_r, kept = low_rank_vectors(users, items, 2)
    error = np.linalg.norm(scores - users_r @ items_r.T)
    assert error < np.linalg.norm(scores - users[:, :2] @ items[:, :2].T)
    singular = np.linalg.svd(scores, compute_uv=False)
    assert error == pytest.approx(np.sqrt(np.square(singular[2:]).sum()), rel=1e-4)
    assert kept == pytest.approx(np.square(singular[:2]).sum() / np.square(singular).sum())


def test_low_rank_vectors_pad_a_rank_above_the_rows():
    users_r, items_r, kept = low_rank_vectors(np.ones((2, 6)), np.ones((9, 6)), 4)
    assert users_r.shape == (2, 4) and items_r.shape == (9, 4) and kept == pytest.approx(1.0)
    torch.testing.assert_close(torch.from_numpy(users_r @ items_r.T),
                               torch.full((2, 9), 6.0), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("seed", range(6))
def test_grouped_top_k_equals_the_full_search(seed):
    rng = np.random.default_rng(seed)
    levels = int(rng.integers(3, 400))  # few levels: ties at the k-th place; many: none
    scores = rng.integers(0, levels, (40, int(rng.integers(800, 3000)))).astype(np.float32)
    scores[rng.random(scores.shape) < rng.random()] = -np.inf
    for k in (1, 5, 20):
        assert ranking._grouped_top_k_indices(scores, k).tolist() == \
            ranking._top_k_indices(scores, k).tolist()


def test_grouped_top_k_searches_groups_over_many_items(monkeypatch):
    scores = np.random.default_rng(3).standard_normal((8, 5000)).astype(np.float32)
    searched = []
    full = ranking._top_k_indices
    monkeypatch.setattr(ranking, "_top_k_indices",
                        lambda values, k: searched.append(values.shape[1]) or full(values, k))
    top_k(scores, 20)
    assert max(searched) < 5000  # 313 groups, then their 20 x 16 items; never all 5,000
    for row, (indices, _) in zip(scores, top_k(scores, 20)):
        assert indices.tolist() == np.argsort(-row, kind="stable")[:20].tolist()
