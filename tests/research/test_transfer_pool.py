"""research.transfer.pool: the inductive whitening from a disjoint pool, by pool size."""

import numpy as np
import pytest

from research.transfer import pool
from research.transfer.batch_classes import class_groups

from ..conftest import tiny_clf


def test_the_study_whitens_as_the_estimators_option(small_views):
    X, y = small_views
    clf = tiny_clf(max_epochs=1).fit(X, y)
    clf.set_params(embedding_norm=None)
    raw = clf.embed(X).astype(np.float64)
    got = pool.library_whitened(raw[:5], raw[::2], clf.view_slices_)
    clf.set_params(embedding_norm="whitened_l2")
    clf.fit_embedding_stats(X[::2])
    want = clf.embed(X[:5]) / clf.embedding_scale_  # the study puts each view at norm 1
    np.testing.assert_allclose(got, want, rtol=1e-3, atol=1e-4)
    # a different pool gives different embeddings: the pool is read
    other = pool.library_whitened(raw[:5], raw[1::2], clf.view_slices_)
    assert np.abs(other - got).max() > 1e-3


def test_pools_are_disjoint_from_the_group_nested_and_fixed():
    y = np.repeat(np.arange(12), 4)
    groups = class_groups(y, 5)
    assert [len(g) for g in groups] == [5, 7]  # a remainder of 2 joins the last group
    for index, group in enumerate(groups):
        order = pool.pool_order(y, group, index)
        assert len(order) == np.sum(~np.isin(y, group)) and len(set(order)) == len(order)
        assert not np.isin(y[order], group).any()
        np.testing.assert_array_equal(order, pool.pool_order(y, group, index))
    a = pool.pool_order(y, groups[0], 0)
    assert not np.array_equal(a, pool.pool_order(y, groups[0], 1))  # one order per group


def test_score_task_scores_every_clip_and_the_pool_matters():
    rng = np.random.default_rng(0)
    y = np.repeat(np.arange(10), 8)
    # one strong nuisance direction the classes do not use; the class signal is weak
    emb = rng.normal(size=(80, 6)) * np.array([30, 1, 1, 1, 1, 1])
    emb[:, 1:] += 0.8 * rng.normal(size=(10, 5))[y]
    base = rng.normal(size=(50, 6))
    sizes = [5, "all"]
    out = pool.score_task(emb, base, y, class_groups(y, 5), sizes, [slice(0, 6)], passes=2)
    assert set(out) == {"centred_l2", "whitened_l2@5", "whitened_l2@all"}
    for acc in out.values():
        assert set(acc) == {"5w1s", "5w5s"}
        assert all(np.isfinite(a).all() and a.shape == (80,) for a in acc.values())
    # whitening by the domain's spread removes the nuisance that centred-L2 reads
    assert out["whitened_l2@all"]["5w5s"].mean() > out["centred_l2"]["5w5s"].mean() + 0.1
    with pytest.raises(ValueError, match="only 40 clips outside it"):
        pool.score_task(emb, base, y, class_groups(y, 5), [41], [slice(0, 6)], passes=1)
