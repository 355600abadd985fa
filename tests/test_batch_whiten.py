"""embedding_norm="batch_whitened_l2": each call's clips centre and whiten the embeddings."""

import warnings

import joblib
import numpy as np
import pytest
import torch
from sklearn.base import clone
from sklearn.covariance import LedoitWolf

from sklearn_hallu import predict_files
from sklearn_hallu.nn import whitened_l2 as _whitened_l2
from sklearn_hallu.nn import whitening_stats
from sklearn_hallu.persistence import dump, load

from .conftest import tiny_clf


def whitened_l2(emb, batch, slices, scale=1.0):
    """The library's whitening of ``emb`` by the statistics of ``batch``."""
    mean, whitening = whitening_stats(batch, slices)
    return _whitened_l2(emb, mean, whitening, slices, scale)


def _whiten_by_hand(stats, e, scale, slices):
    out = np.empty_like(e, dtype=np.float64)
    for sl in slices:
        part = stats[:, sl].astype(np.float64)
        cov = LedoitWolf().fit(part).covariance_
        vals, vecs = np.linalg.eigh(cov)
        z = (e[:, sl] - part.mean(0)) @ vecs @ np.diag(vals ** -0.5) @ vecs.T
        out[:, sl] = scale * z / np.linalg.norm(z, axis=1, keepdims=True)
    return out


def test_whitened_l2_by_hand_and_its_effect():
    rng = np.random.default_rng(0)
    batch = rng.normal(size=(300, 6)) * np.array([20, 5, 1, 1, 0.2, 0.05]) + 3.0
    slices = [slice(0, 4), slice(4, 6)]
    got = whitened_l2(torch.as_tensor(batch[:7], dtype=torch.float32),
                      torch.as_tensor(batch, dtype=torch.float32), slices, 2.0)
    assert got.dtype == torch.float32
    want = _whiten_by_hand(batch.astype(np.float32), batch[:7].astype(np.float32), 2.0,
                           slices)
    np.testing.assert_allclose(got.numpy(), want, rtol=1e-4, atol=1e-5)
    # every direction of the batch's spread weighs about the same afterwards
    wide = rng.normal(size=(3000, 6)) * np.array([6, 4, 2, 1, 0.7, 0.5]) + 3.0
    whole = whitened_l2(torch.as_tensor(wide), torch.as_tensor(wide), [slice(0, 6)])
    spread = whole.pow(2).mean(0).numpy()
    assert spread.max() / spread.min() < 1.3
    raw = (wide - wide.mean(0)) ** 2
    assert raw.mean(0).max() / raw.mean(0).min() > 100
    with pytest.raises(ValueError, match="at least 2 clips, got 1"):
        whitened_l2(torch.ones(1, 3), torch.ones(1, 3), [slice(0, 3)])
    # two clips (a singular covariance) and a constant batch give finite output
    two = torch.tensor([[1.0, 2.0, 3.0], [2.0, 2.5, 1.0]])
    assert torch.isfinite(whitened_l2(two, two, [slice(0, 3)])).all()
    const = torch.ones(4, 3)
    assert torch.equal(whitened_l2(const, const, [slice(0, 3)]), torch.zeros(4, 3))
    # columns outside the views are centred and left unscaled, as centered_l2 leaves them
    e = torch.as_tensor(batch[:5], dtype=torch.float32)
    part = whitened_l2(e, torch.as_tensor(batch, dtype=torch.float32), [slice(0, 4)])
    np.testing.assert_allclose(part[:, 4:].numpy(), (batch[:5] - batch.mean(0))[:, 4:],
                               rtol=1e-5, atol=1e-6)


@pytest.fixture(scope="module")
def fitted(small_views):
    X, y = small_views
    clf = tiny_clf(max_epochs=1, embedding_norm="batch_whitened_l2").fit(X, y)
    return clf, X, y


def test_prediction_whitens_supports_and_queries_by_the_calls_clips(fitted):
    clf, X, y = fitted
    support = np.isin(np.arange(len(y)) % 10, [0, 1])
    clf = clone(clf).fit(X, y).fit_support(X[support], y[support])
    queries = X[~support]
    with torch.no_grad():
        sup, raw = clf.net_.forward(X[support]).numpy(), clf.net_.forward(queries).numpy()
    both = np.concatenate([sup, raw])
    slices, scale = clf.view_slices_, clf.embedding_scale_
    protos = np.stack([_whiten_by_hand(both, sup, scale, slices)[y[support] == c].mean(0)
                       for c in clf.classes_])
    q = _whiten_by_hand(both, raw, scale, slices)
    logits = -((q[:, None, :] - protos[None]) ** 2).sum(-1)
    np.testing.assert_allclose(clf.decision_function(queries), logits, rtol=1e-3, atol=1e-3)
    np.testing.assert_array_equal(clf.predict(queries), clf.classes_[logits.argmax(1)])
    np.testing.assert_allclose(clf.embed(queries), _whiten_by_hand(raw, raw, scale, slices),
                               rtol=1e-3, atol=1e-4)
    # not the batch centre: the covariance changes the answer (the same network)
    import copy

    centred = copy.deepcopy(clf).set_params(embedding_norm="batch_centered_l2")
    centred.fit_support(X[support], y[support])
    assert not np.allclose(centred.decision_function(queries), logits, atol=1e-2)
    # transductive: fewer clips in the call, other statistics
    assert not np.allclose(clf.decision_function(queries[:5]), logits[:5], atol=1e-3)


def test_switching_to_it_asks_for_the_support_set_and_new_statistics_stale_it(small_views):
    X, y = small_views
    clf = tiny_clf(max_epochs=1, embedding_norm="batch_centered_l2").fit(X, y)
    clf.set_params(embedding_norm="batch_whitened_l2")
    with pytest.raises(ValueError, match=r"made with embedding_norm='batch_centered_l2', "
                                         r"not the current 'batch_whitened_l2'.*fit_support"):
        clf.predict(X)
    assert clf.fit_support(X, y).prototypes_norm_ == "batch_whitened_l2"
    assert clf.support_embeddings_.shape[0] == len(y)
    clf.fit_embedding_stats(X)
    with pytest.raises(ValueError, match=r"made with embedding_norm='stale'"):
        clf.predict(X)


def test_one_clip_is_refused_alone_and_the_model_persists(fitted, tmp_path):
    clf, X, y = fitted
    with pytest.raises(ValueError, match=r"'batch_whitened_l2' whitens the clips of an embed "
                                         r"call by their own mean and covariance, so the "
                                         r"call needs at least 2 clips, got 1"):
        clf.embed(X[:1])
    assert clf.predict(X[:1]).shape == (1,)  # with the supports, two or more clips
    before = clf.predict_proba(X)
    joblib.dump(clf, tmp_path / "m.joblib")
    np.testing.assert_allclose(joblib.load(tmp_path / "m.joblib").predict_proba(X), before)
    dump(clf, tmp_path / "m.skops")
    np.testing.assert_allclose(load(tmp_path / "m.skops").predict_proba(X), before)


def test_tools_that_embed_in_pieces_refuse_it(pipe_and_data, tmp_path):
    pipe, X, y = pipe_and_data
    model = clone(pipe).set_params(clf__embedding_norm="batch_whitened_l2").fit(X, y)
    with pytest.raises(ValueError, match=r"in pieces.*'batch_whitened_l2' normalises the "
                                         r"clips of each call.*embedding_norm='centered_l2'"):
        list(predict_files(model, [tmp_path / "a.wav"]))


def test_stored_whitening_comes_from_fit_then_from_a_pool(small_views, tmp_path):
    X, y = small_views
    clf = tiny_clf(max_epochs=1, embedding_norm="whitened_l2").fit(X, y)
    slices, scale = clf.view_slices_, clf.embedding_scale_
    with torch.no_grad():
        train = clf.net_.forward(X).numpy()
    _, w = whitening_stats(torch.as_tensor(train), slices)
    np.testing.assert_allclose(clf.embedding_whitening_, w.numpy(), rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(clf.embed(X[:3]), _whiten_by_hand(train, train[:3], scale,
                                                                 slices), rtol=1e-3, atol=1e-4)
    # inductive: a clip's answer does not depend on the other clips of the call
    np.testing.assert_allclose(clf.decision_function(X[:1]), clf.decision_function(X)[:1],
                               rtol=1e-5, atol=1e-6)
    # from a pool of other clips (here half of them): new statistics, stale prototypes
    pool = X[::2]
    clf.fit_embedding_stats(pool)
    with pytest.raises(ValueError, match="made with embedding_norm='stale'"):
        clf.predict(X)
    clf.fit_support(X, y)
    with torch.no_grad():
        pooled = clf.net_.forward(pool).numpy()
    by_pool = _whiten_by_hand(pooled, train[:3], clf.embedding_scale_, slices)
    np.testing.assert_allclose(clf.embed(X[:3]), by_pool, rtol=1e-3, atol=1e-4)
    dump(clf, tmp_path / "w.skops")
    np.testing.assert_allclose(load(tmp_path / "w.skops").predict_proba(X),
                               clf.predict_proba(X), rtol=1e-6)
    del clf.embedding_whitening_  # as a model saved before the option
    with pytest.raises(ValueError, match=r"'whitened_l2' needs a whitening.*"
                                         r"fit_embedding_stats\(X\) with clips of the domain"):
        clf.embed(X[:3])


def test_a_pool_smaller_than_any_measured_warns_at_the_callers_line(small_views):
    X, y = small_views
    clf = tiny_clf(max_epochs=1, embedding_norm="whitened_l2").fit(X, y)
    with pytest.warns(UserWarning, match="from 5 clips, fewer than the 10") as record:
        clf.fit_embedding_stats(X[:5])
    assert record[0].filename == __file__
    assert clf.embedding_whitening_.shape == (clf.prototypes_.shape[1],) * 2  # still made
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        clf.fit_embedding_stats(X[:10])
        clf.set_params(embedding_norm="centered_l2").fit_embedding_stats(X[:5])  # not used
