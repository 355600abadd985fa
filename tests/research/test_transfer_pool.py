"""research.transfer.pool: the inductive whitening from a disjoint pool, by pool size."""

import numpy as np
import pytest

from research.transfer import pool
from research.transfer.batch_classes import class_groups, grouped_per_clip
from research.transfer.layers import per_clip
from research.transfer.norms import as_layers, raw_embeddings
from sklearn_hallu import final_estimator
from sklearn_hallu import fit_embedding_stats as pipe_fit_embedding_stats

from ..conftest import tiny_clf


@pytest.mark.parametrize("shifts", [1, 2])
def test_the_study_normalises_as_the_estimators_options(small_views, shifts):
    X, y = small_views
    clf = tiny_clf(max_epochs=1).fit(X, y)
    raw = raw_embeddings(clf, X, shifts)["block3"]  # embedding_norm=None, the shifts set
    got = pool.library_whitened(raw[:5], raw[::2], clf.view_slices_)
    clf.set_params(embedding_norm="whitened_l2", test_time_shifts=shifts)
    clf.fit_embedding_stats(X[::2])
    want = clf.embed(X[:5]) / clf.embedding_scale_  # the study puts each view at norm 1
    np.testing.assert_allclose(got, want, rtol=1e-3, atol=1e-4)
    # a different pool gives different embeddings: the pool is read
    other = pool.library_whitened(raw[:5], raw[1::2], clf.view_slices_)
    assert np.abs(other - got).max() > 1e-3
    # the reference: the library's centred-L2, per view, with the base clips' centre
    ref = pool.library_centred(raw[:5], raw[::3], clf.view_slices_)
    clf.set_params(embedding_norm="centered_l2").fit_embedding_stats(X[::3])
    np.testing.assert_allclose(ref, clf.embed(X[:5]) / clf.embedding_scale_, rtol=1e-3,
                               atol=1e-4)


def test_the_study_reads_a_pipeline_as_the_library_does(pipe_and_data):
    pipe, X, y = pipe_and_data
    pipe.fit(X, y)
    raw = raw_embeddings(pipe, X, 1)["block3"]  # through the pipeline's transformers
    clf = final_estimator(pipe)
    got = pool.library_whitened(raw[:3], raw[1::2], clf.view_slices_)
    clf.set_params(embedding_norm="whitened_l2")
    pipe_fit_embedding_stats(pipe, X[1::2])
    want = clf.embed(pipe[:-1].transform(X[:3])) / clf.embedding_scale_
    np.testing.assert_allclose(got, want, rtol=1e-3, atol=1e-4)


def test_pools_are_disjoint_from_the_group_nested_and_fixed():
    y = np.repeat(np.arange(12), 4)
    groups = class_groups(y, 5)
    assert [len(g) for g in groups] == [5, 7]  # a remainder of 2 joins the last group
    for index, group in enumerate(groups):
        order = pool.pool_order(y, group, index, seed=0)
        assert len(order) == np.sum(~np.isin(y, group)) and len(set(order)) == len(order)
        assert not np.isin(y[order], group).any()
        np.testing.assert_array_equal(order, pool.pool_order(y, group, index, seed=0))
    a = pool.pool_order(y, groups[0], 0, seed=0)
    assert not np.array_equal(a, pool.pool_order(y, groups[0], 1, seed=0))  # per group
    assert not np.array_equal(a, pool.pool_order(y, groups[0], 0, seed=1))  # per seed


def _task(rng):
    y = np.repeat(np.arange(10), 8)
    # one strong nuisance direction the classes do not use; the class signal is weak
    emb = rng.normal(size=(80, 6)) * np.array([30, 1, 1, 1, 1, 1])
    emb[:, 1:] += 0.8 * rng.normal(size=(10, 5))[y]
    return emb, y


def test_score_task_uses_each_groups_own_disjoint_pool_and_the_training_centre():
    rng = np.random.default_rng(0)
    emb, y = _task(rng)
    base = rng.normal(size=(50, 6)) + 2.0
    groups, vs = class_groups(y, 5), [slice(0, 6)]
    out = pool.score_task(emb, base, y, groups, [5, 20, "all"], vs, passes=2, seed=3)
    assert set(out) == {"centred_l2", "whitened_l2@5", "whitened_l2@20", "whitened_l2@all"}
    for index, group in enumerate(groups):
        idx = np.flatnonzero(np.isin(y, group))
        order = pool.pool_order(y, group, index, seed=3)
        for m, take in ((5, order[:5]), (20, order[:20]), ("all", order)):
            want = per_clip(pool.library_whitened(emb[idx], emb[take], vs), y[idx], 2)
            for key, acc in want.items():
                np.testing.assert_array_equal(out[f"whitened_l2@{m}"][key][idx], acc)
        want = per_clip(pool.library_centred(emb[idx], base, vs), y[idx], 2)
        for key, acc in want.items():
            np.testing.assert_array_equal(out["centred_l2"][key][idx], acc)
    for acc in out.values():
        assert set(acc) == {"5w1s", "5w5s"}
        assert all(np.isfinite(a).all() and a.shape == (80,) for a in acc.values())
    # whitening by the domain's spread removes the nuisance that centred-L2 reads
    assert out["whitened_l2@all"]["5w5s"].mean() > out["centred_l2"]["5w5s"].mean() + 0.1
    with pytest.raises(ValueError, match="only 40 clips outside it"):
        pool.score_task(emb, base, y, groups, [41], vs, passes=1, seed=0)


def test_the_whole_pool_is_the_earlier_studys_other_whitened_l2():
    emb, y = _task(np.random.default_rng(1))
    groups = class_groups(y, 5)
    new = pool.score_task(emb, emb, y, groups, ["all"], [slice(0, 6)], passes=2, seed=0)
    old = grouped_per_clip(as_layers({"block3": emb}), None, y, "other_whitened_l2", groups,
                           passes=2)
    for key in ("5w1s", "5w5s"):
        np.testing.assert_allclose(new["whitened_l2@all"][key], old[key])
