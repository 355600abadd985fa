"""embedding_norm="batch_propagated_l2": centred-L2, then each call's clips smoothed along
their own nearest-neighbour graph (embedding propagation)."""

import copy

import joblib
import numpy as np
import pytest
import torch

from sklearn_hallu.nn import neighbour_graph, propagated_l2

from .conftest import tiny_clf


def _propagate_by_hand(e, slices, scale=1.0, k=10, alpha=0.5):
    """The propagation written out with numpy, loops and all."""
    x = np.asarray(e, dtype=np.float64) / scale
    z = np.linalg.solve(np.eye(len(x)) - alpha * _graph_by_hand(x, k), x)
    for sl in slices:
        z[:, sl] = scale * z[:, sl] / np.linalg.norm(z[:, sl], axis=1, keepdims=True)
    return z


def _graph_by_hand(x, k=10):
    """The normalised neighbour graph written out with numpy, loops and all."""
    n = len(x)
    d2 = ((x[:, None, :] - x[None, :, :]) ** 2).sum(-1)
    k = min(k, n - 1)
    near = []
    for i in range(n):  # the k nearest others, and every clip tied with the k-th
        others = np.where(np.arange(n) == i, np.inf, d2[i])
        near.append(np.flatnonzero(others <= np.sort(others)[k - 1]))
    s2 = np.mean([d2[i, j] for i in range(n) for j in near[i]])
    w = np.zeros((n, n))
    for i in range(n):
        for j in near[i]:
            w[i, j] = w[j, i] = np.exp(-d2[i, j] / s2)
    deg = w.sum(1)
    return w / np.sqrt(deg[:, None] * deg[None, :])


def test_propagated_l2_by_hand_and_its_checks():
    rng = np.random.default_rng(0)
    e = rng.normal(size=(30, 6))
    slices = [slice(0, 4), slice(4, 6)]
    for s in slices:
        e[:, s] = 2.0 * e[:, s] / np.linalg.norm(e[:, s], axis=1, keepdims=True)
    got = propagated_l2(torch.as_tensor(e, dtype=torch.float32), slices, 2.0, n_neighbors=4)
    assert got.dtype == torch.float32
    np.testing.assert_allclose(got.numpy(), _propagate_by_hand(e, slices, 2.0, k=4),
                               rtol=1e-4, atol=1e-5)
    # a strong propagation converges too (conjugate gradients, not a fixed point)
    strong = propagated_l2(torch.as_tensor(e), slices, 2.0, n_neighbors=4, alpha=0.999)
    np.testing.assert_allclose(strong.numpy(),
                               _propagate_by_hand(e, slices, 2.0, k=4, alpha=0.999), atol=1e-9)
    # alpha=0: nothing moves; more neighbours than clips: every other clip
    same = propagated_l2(torch.as_tensor(e), slices, 2.0, alpha=0.0)
    np.testing.assert_allclose(same.numpy(), e, atol=1e-12)
    few = propagated_l2(torch.as_tensor(e[:3]), slices, 2.0, n_neighbors=10)
    np.testing.assert_allclose(few.numpy(), _propagate_by_hand(e[:3], slices, 2.0, k=2),
                               atol=1e-10)
    for kw, msg in [({"alpha": 1.0}, r"alpha must be in \[0, 1\), got 1.0"),
                    ({"n_neighbors": 0}, "n_neighbors must be an integer >= 1, got 0"),
                    ({"n_neighbors": 2.5}, "n_neighbors must be an integer >= 1, got 2.5"),
                    ({"chunk": 0}, "chunk must be an integer >= 1, got 0")]:
        with pytest.raises(ValueError, match=msg):
            propagated_l2(torch.as_tensor(e), slices, **kw)
    with pytest.raises(ValueError, match="at least 2 clips, got 1: give the clips together"):
        propagated_l2(torch.ones(1, 3), [slice(0, 3)])
    nan = torch.as_tensor(e).clone()
    nan[3, 0] = float("nan")
    with pytest.raises(ValueError, match="1 of 30 clips have non-finite embeddings"):
        propagated_l2(nan, slices)
    assert propagated_l2(torch.as_tensor(e), slices).dtype == torch.float64


def test_the_neighbour_graph_by_hand_and_its_checks():
    e = np.random.default_rng(1).normal(size=(25, 5))
    g = neighbour_graph(torch.as_tensor(e, dtype=torch.float32), n_neighbors=4)
    assert g.is_sparse and g.dtype == torch.float64
    np.testing.assert_allclose(g.to_dense().numpy(), _graph_by_hand(e, k=4), atol=1e-6)
    for kw, msg in [({"n_neighbors": 0}, "n_neighbors must be an integer >= 1, got 0"),
                    ({"chunk": True}, "chunk must be an integer >= 1, got True")]:
        with pytest.raises(ValueError, match=msg):
            neighbour_graph(torch.as_tensor(e), **kw)
    with pytest.raises(ValueError, match="at least 2, got 1: give the clips together"):
        neighbour_graph(torch.ones(1, 3))
    with pytest.raises(ValueError, match=r"shape \(n_clips, dim\), got shape \(4,\)"):
        neighbour_graph(torch.ones(4))
    with pytest.raises(ValueError, match="non-finite embeddings"):
        neighbour_graph(torch.tensor([[0.0], [float("inf")]]))


def test_any_clip_order_gives_the_same_graph_even_with_duplicates():
    rng = np.random.default_rng(1)
    e = rng.normal(size=(31, 4))
    e[:12] = e[0]  # 12 copies of one clip: ties among the nearest neighbours
    e = e / np.linalg.norm(e, axis=1, keepdims=True)
    out = propagated_l2(torch.as_tensor(e), [slice(0, 4)], n_neighbors=5).numpy()
    np.testing.assert_allclose(out, _propagate_by_hand(e, [slice(0, 4)], k=5), atol=1e-10)
    # the distances a few rows at a time: the same graph
    np.testing.assert_allclose(
        propagated_l2(torch.as_tensor(e), [slice(0, 4)], n_neighbors=5, chunk=7).numpy(), out,
        atol=1e-12)
    order = rng.permutation(len(e))
    shuffled = propagated_l2(torch.as_tensor(e[order]), [slice(0, 4)], n_neighbors=5)
    np.testing.assert_allclose(shuffled.numpy(), out[order], atol=1e-12)
    # identical clips, an all-zero row, two clips and a far outlier: finite answers
    for a in (np.ones((5, 4)), np.vstack([np.zeros((1, 4)), e[:6]]), e[:2],
              np.vstack([e[:8], 1e3 * e[8:9]])):
        assert np.isfinite(propagated_l2(torch.as_tensor(a), [slice(0, 4)]).numpy()).all()


@pytest.fixture(scope="module")
def fitted(small_views):
    X, y = small_views
    clf = tiny_clf(max_epochs=1, embedding_norm="batch_propagated_l2").fit(X, y)
    return clf, X, y


def test_prediction_propagates_supports_and_queries_together(fitted):
    clf, X, y = fitted
    support = np.isin(np.arange(len(y)) % 10, [0, 1])
    clf = copy.deepcopy(clf).fit_support(X[support], y[support])
    queries = X[~support]
    with torch.no_grad():
        sup, raw = clf.net_.forward(X[support]).numpy(), clf.net_.forward(queries).numpy()
    slices, scale, mean = clf.view_slices_, clf.embedding_scale_, clf.embedding_mean_

    def centred(e):
        c = np.asarray(e, dtype=np.float64) - mean
        for sl in slices:
            c[:, sl] = scale * c[:, sl] / np.linalg.norm(c[:, sl], axis=1, keepdims=True)
        return c

    both = _propagate_by_hand(centred(np.concatenate([sup, raw])), slices, scale)
    protos = np.stack([both[:len(sup)][y[support] == c].mean(0) for c in clf.classes_])
    q = both[len(sup):]
    logits = -((q[:, None, :] - protos[None]) ** 2).sum(-1)
    np.testing.assert_allclose(clf.decision_function(queries), logits, rtol=1e-3, atol=1e-3)
    np.testing.assert_array_equal(clf.predict(queries), clf.classes_[logits.argmax(1)])
    np.testing.assert_allclose(clf.embed(queries),
                               _propagate_by_hand(centred(raw), slices, scale),
                               rtol=1e-3, atol=1e-4)
    # transductive: fewer clips in the call, another graph
    assert not np.allclose(clf.decision_function(queries[:5]), logits[:5], atol=1e-3)


def test_one_clip_is_refused_alone_and_the_model_persists(fitted, tmp_path):
    clf, X, y = fitted
    with pytest.raises(ValueError, match=r"'batch_propagated_l2' smooths the clips of an "
                                         r"embed call along their own nearest-neighbour "
                                         r"graph, so the call needs at least 2 clips, got 1"):
        clf.embed(X[:1])
    assert clf.predict(X[:1]).shape == (1,)  # with the supports, two or more clips
    before = clf.predict_proba(X)
    joblib.dump(clf, tmp_path / "m.joblib")
    np.testing.assert_allclose(joblib.load(tmp_path / "m.joblib").predict_proba(X), before)


def test_the_research_screen_scores_what_the_library_embeds(small_views):
    """research.transfer.layers's norm is the library's, on a one-view model."""
    from research.transfer.layers import NORMS

    X, y = small_views
    X = X[:, :1]
    clf = tiny_clf(max_epochs=1, embedding_norm="batch_propagated_l2").fit(X, y)
    with torch.no_grad():
        raw = clf.net_.forward(X).numpy().astype(np.float64)
    some = raw[:40]  # not the training clips: their centre is not the batch's own
    parts = {name: some for name in ("block1", "block2", "block3")}
    got = NORMS["batch_propagated_l2"](parts, {name: clf.embedding_mean_[None] for name in parts})
    want = clf.embed(X[:40]) / clf.embedding_scale_
    np.testing.assert_allclose(got["block3"], want, rtol=1e-3, atol=1e-4)
