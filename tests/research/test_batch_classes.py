"""research.transfer.batch_classes: the class groups and the scoring inside each."""

import numpy as np
import pytest

from research.transfer.batch_classes import class_groups, grouped_per_clip
from research.transfer.layers import NORMS, per_clip


def test_class_groups_partition_the_classes():
    y = np.repeat(np.arange(30), 3)
    for k, sizes in ((5, [5] * 6), (10, [10] * 3), (30, [30]), (7, [7, 7, 7, 9])):
        groups = class_groups(y, k)
        assert [len(g) for g in groups] == sizes
        assert sorted(np.concatenate(groups).tolist()) == list(range(30))
    assert [g.tolist() for g in class_groups(y, 5)] == [g.tolist() for g in class_groups(y, 5)]
    assert not np.array_equal(np.concatenate(class_groups(y, 5)), np.arange(30))  # shuffled
    with pytest.raises(ValueError, match="between 5 and the 30 classes .* got 31"):
        class_groups(y, 31)


def _blocks(e):
    return {"block1": e, "block2": e, "block3": e}


def _assert_each_group_scored_alone(got, y, groups, embeddings_of):
    """``got`` holds, for each group's clips, the protocol's per-clip scores of
    ``embeddings_of(idx)`` (the group's normalised embeddings) inside that group."""
    for g in groups:
        idx = np.flatnonzero(np.isin(y, g))
        want = per_clip(embeddings_of(idx), y[idx], 2)
        for key in ("5w1s", "5w5s"):
            np.testing.assert_array_equal(got[key][idx], want[key])


def test_each_group_is_its_own_batch():
    rng = np.random.default_rng(0)
    y = np.repeat(np.arange(10), 7)
    emb = rng.normal(size=(70, 6)) + y[:, None] * 0.3
    base = _blocks(rng.normal(size=(200, 6)))
    groups = class_groups(y, 5)
    got = grouped_per_clip(_blocks(emb), base, y, "batch_whitened_l2", groups, 2)
    for g in groups:
        idx = np.flatnonzero(np.isin(y, g))
        own = NORMS["batch_whitened_l2"](_blocks(emb[idx]), base)["block3"]
        want = per_clip(own, y[idx], 2)
        for key in ("5w1s", "5w5s"):
            np.testing.assert_array_equal(got[key][idx], want[key])
    assert not np.isnan(got["5w1s"]).any()
    # whitening the whole batch at once is not the same
    whole = per_clip(NORMS["batch_whitened_l2"](_blocks(emb), base)["block3"], y, 2)
    assert not np.array_equal(whole["5w1s"], got["5w1s"])


def test_pool_norms_take_the_whole_splits_statistics():
    rng = np.random.default_rng(1)
    y = np.repeat(np.arange(10), 7)
    emb = rng.normal(size=(70, 6)) * np.linspace(0.3, 3, 6) + y[:, None] * 0.2
    base = _blocks(rng.normal(size=(200, 6)))
    groups = class_groups(y, 5)
    got = grouped_per_clip(_blocks(emb), base, y, "pool_whitened_l2", groups, 2)
    whole = NORMS["whitened_l2"](_blocks(emb), _blocks(emb))["block3"]  # the split's stats
    _assert_each_group_scored_alone(got, y, groups, lambda idx: whole[idx])
    own = grouped_per_clip(_blocks(emb), base, y, "batch_whitened_l2", groups, 2)
    assert not np.array_equal(own["5w1s"], got["5w1s"])


def test_other_norms_take_the_other_classes_statistics():
    rng = np.random.default_rng(2)
    y = np.repeat(np.arange(10), 7)
    emb = rng.normal(size=(70, 6)) * np.linspace(0.3, 3, 6) + y[:, None] * 0.2
    base = _blocks(rng.normal(size=(200, 6)))
    groups = class_groups(y, 5)
    got = grouped_per_clip(_blocks(emb), base, y, "other_whitened_l2", groups, 2)
    _assert_each_group_scored_alone(got, y, groups, lambda idx: NORMS["whitened_l2"](
        _blocks(emb[idx]), _blocks(np.delete(emb, idx, axis=0)))["block3"])
    with pytest.raises(ValueError, match="other classes than the group"):
        grouped_per_clip(_blocks(emb), base, y, "other_whitened_l2", class_groups(y, 10), 2)
