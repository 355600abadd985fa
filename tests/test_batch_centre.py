"""embedding_norm="batch_centered_l2": the centre is the mean of each call's clips."""

import joblib
import numpy as np
import pytest
import torch
from sklearn.base import clone

from sklearn_hallu import fit_support, predict_files
from sklearn_hallu.detection import detect_events
from sklearn_hallu.open_set import OpenSetClassifier

from .conftest import tiny_clf


def _by_hand(clf, X_support, y_support, X, with_support=True):
    """What batch centring means, computed from the raw embeddings with numpy: the centre
    of a prediction is the mean of the supports and the queries; of embed, the queries'."""
    with torch.no_grad():
        sup, raw = clf.net_.forward(X_support).numpy(), clf.net_.forward(X).numpy()
    centre = np.concatenate([sup, raw] if with_support else [raw]).mean(0)

    def norm(e):
        e = e - centre
        out = np.empty_like(e)
        for sl in clf.view_slices_:
            out[:, sl] = clf.embedding_scale_ * e[:, sl] / np.linalg.norm(e[:, sl], axis=1,
                                                                          keepdims=True)
        return out

    classes = np.unique(y_support)
    protos = np.stack([norm(sup)[y_support == c].mean(0) for c in classes])
    q = norm(raw)
    logits = -((q[:, None, :] - protos[None]) ** 2).sum(-1)
    return q, logits


@pytest.fixture(scope="module")
def fitted(small_views):
    X, y = small_views
    clf = tiny_clf(max_epochs=1, embedding_norm="batch_centered_l2").fit(X, y)
    return clf, X, y


def test_prediction_centres_supports_and_queries_on_the_calls_clips(fitted):
    clf, X, y = fitted
    support = np.isin(np.arange(len(y)) % 10, [0, 1])  # 2 clips per class
    clf = clone(clf).fit(X, y).fit_support(X[support], y[support])
    queries = X[~support]
    q, logits = _by_hand(clf, X[support], y[support], queries)
    alone, _ = _by_hand(clf, X[support], y[support], queries, with_support=False)
    np.testing.assert_allclose(clf.embed(queries), alone, rtol=1e-4, atol=1e-5)
    assert not np.allclose(q, alone, atol=1e-3)  # the supports move the prediction's centre
    np.testing.assert_allclose(clf.decision_function(queries), logits, rtol=1e-3, atol=1e-3)
    np.testing.assert_array_equal(clf.predict(queries), clf.classes_[logits.argmax(1)])
    proba = clf.predict_proba(queries)
    np.testing.assert_allclose(proba.sum(1), 1.0)
    # transductive: the same clips, classified with others, get another centre
    first = queries[:5]
    assert not np.allclose(clf.decision_function(first), logits[:5], atol=1e-3)
    # prototypes_ is what the supports give centred on themselves
    own, _ = _by_hand(clf, X[support], y[support], X[support], with_support=False)
    np.testing.assert_allclose(clf.prototypes_, [own[y[support] == c].mean(0)
                                                 for c in clf.classes_], rtol=1e-4, atol=1e-5)


def test_one_clip_is_predicted_with_the_supports_but_not_embedded_alone(fitted):
    clf, X, y = fitted
    _, logits = _by_hand(clf, X, y, X[:1])  # fit's clips are the supports
    np.testing.assert_allclose(clf.decision_function(X[:1]), logits, rtol=1e-3, atol=1e-3)
    with pytest.raises(ValueError, match=r"embed call.*at least 2 clips, got 1.*one call.*"
                                         r"embedding_norm='centered_l2'"):
        clf.embed(X[:1])
    assert clf.embed(X[:2]).shape[0] == 2


def test_with_test_time_shifts_and_its_statistics(small_views):
    X, y = small_views
    clf = tiny_clf(max_epochs=1, embedding_norm="batch_centered_l2", test_time_shifts=2)
    clf.fit(X, y)
    plain = clone(clf).set_params(test_time_shifts=1).fit(X, y)  # same seed, same net
    assert not np.allclose(clf.predict_proba(X), plain.predict_proba(X))
    clf.set_params(test_time_shifts=3)  # the scale was computed with 2
    with pytest.raises(ValueError, match=r"test_time_shifts=2, not the current 3.*"
                                         r"fit_embedding_stats"):
        clf.predict(X)
    clf.fit_embedding_stats(X)
    with pytest.raises(ValueError, match=r"made with embedding_norm='stale'.*fit_support"):
        clf.predict(X)
    assert clf.fit_support(X, y).predict(X).shape == (len(y),)


def test_switching_norm_asks_for_the_support_set_and_persists(small_views, tmp_path):
    X, y = small_views
    clf = tiny_clf(max_epochs=1).fit(X, y)  # centered_l2: no raw supports kept
    assert not hasattr(clf, "support_embeddings_")
    clf.set_params(embedding_norm="batch_centered_l2")
    with pytest.raises(ValueError, match=r"made with embedding_norm='centered_l2'.*"
                                         r"fit_support"):
        clf.predict(X)
    clf.fit_support(X, y)
    assert clf.support_embeddings_.shape == (len(y), clf.prototypes_.shape[1])
    before = clf.predict_proba(X)
    joblib.dump(clf, tmp_path / "m.joblib")
    np.testing.assert_allclose(joblib.load(tmp_path / "m.joblib").predict_proba(X), before)
    from sklearn_hallu.persistence import dump, load

    dump(clf, tmp_path / "m.skops")
    np.testing.assert_allclose(load(tmp_path / "m.skops").predict_proba(X), before)
    clf.set_params(embedding_norm="centered_l2").fit_support(X, y)  # back: raw ones dropped
    assert not hasattr(clf, "support_embeddings_")
    with pytest.raises(ValueError, match=r"one of \('centered_l2', 'whitened_l2', "
                                         r"'batch_centered_l2', "
                                         r"'batch_whitened_l2', 'batch_propagated_l2', "
                                         r"'batch_label_propagated_l2'\) or None, "
                                         r"got 'batch'"):
        clf.set_params(embedding_norm="batch").embed(X)


@pytest.mark.parametrize("norm", ["batch_centered_l2", "batch_whitened_l2",
                                  "batch_propagated_l2", "batch_label_propagated_l2"])
def test_tools_that_embed_in_pieces_refuse_it(pipe_and_data, tmp_path, norm):
    pipe, X, y = pipe_and_data
    model = clone(pipe).set_params(clf__embedding_norm=norm).fit(X, y)
    assert model.predict(X[:4]).shape == (4,)  # a Pipeline's call is one call
    fit_support(model, X[:24], y[:24])
    # an open-set model fitted inductively, switched afterwards
    open_set = OpenSetClassifier(clone(pipe).fit(X, y)).fit(X[:24], y[:24])
    from sklearn_hallu import final_estimator
    from sklearn_hallu.open_set import open_set_report

    final_estimator(open_set.estimator_).set_params(embedding_norm=norm)
    for call in (lambda: list(predict_files(model, [tmp_path / "a.wav"])),
                 lambda: detect_events(model, np.concatenate(X[:6]), progress=False),
                 lambda: OpenSetClassifier(model).fit(X[:24], y[:24]),
                 lambda: open_set.predict(X[24:30]),
                 lambda: open_set.score_samples(X[24:30]),
                 lambda: open_set_report(open_set, X[24:30], y[24:30], X[30:36])):
        with pytest.raises(ValueError, match=rf"in pieces.*{norm}.*"
                                             r"embedding_norm='centered_l2'"):
            call()
