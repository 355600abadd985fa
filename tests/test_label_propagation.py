"""Label propagation: ``sklearn_hallu.nn.label_propagation``, the episodic decision
``episodic_accuracy(decision="label_propagation")`` and the transductive opt-in
``embedding_norm="batch_label_propagated_l2"``."""

import copy

import joblib
import numpy as np
import pytest
import torch

from sklearn_hallu.model_selection import FewShotScorer, few_shot_report
from sklearn_hallu.nn import LABEL_PROPAGATION, label_propagation, neighbour_graph
from sklearn_hallu.sampling import episodic_accuracy, paper_episodes, random_episodes

from .conftest import tiny_clf


def _by_hand(emb, labels, n_classes, alpha=0.9, balanced=True):
    """``(I - alpha S)^-1 Y`` by a dense solve, columns over their sums if balanced."""
    s = neighbour_graph(torch.as_tensor(emb, dtype=torch.float64)).to_dense().numpy()
    y = np.zeros((len(emb), n_classes))
    for i, c in enumerate(labels):
        if c >= 0:
            y[i, c] = 1.0
    f = np.linalg.solve(np.eye(len(emb)) - alpha * s, y)
    return f / f.sum(axis=0) if balanced else f


def _clusters(seed=0, per=10, n_classes=4, dim=6):
    rng = np.random.default_rng(seed)
    y = np.repeat(np.arange(n_classes), per)
    emb = rng.normal(size=(len(y), dim)) + 2.5 * np.eye(n_classes, dim)[y]
    return emb, y


def test_scores_by_hand_and_the_checks():
    emb, y = _clusters()
    labels = np.where(np.arange(len(y)) % 10 < 2, y, -1)
    for balanced in (False, True):
        got = label_propagation(torch.as_tensor(emb), labels, balanced=balanced)
        assert got.dtype == torch.float64 and got.shape == (40, 4)
        np.testing.assert_allclose(got.numpy(), _by_hand(emb, labels, 4, balanced=balanced),
                                   rtol=1e-8, atol=1e-12)
    assert LABEL_PROPAGATION == {"alpha": 0.9, "balanced": True}  # rule LP's choice
    # more classes than labelled: the missing class scores 0 (not divided by 0)
    wide = label_propagation(torch.as_tensor(emb), labels, 6)
    assert wide.shape == (40, 6) and float(wide[:, 4:].abs().max()) == 0.0
    t = torch.as_tensor(emb)
    for kw, msg in [({"labels": labels[:5]}, r"one label per clip, shape \(40,\), got shape "
                                             r"\(5,\)"),
                    ({"labels": np.full(40, -1)}, "at least one labelled clip"),
                    ({"labels": labels, "n_classes": 3}, r"labels must be in -1 \.\. 2 "
                                                         r"\(n_classes=3\), got values from "
                                                         r"-1 to 3"),
                    ({"labels": np.where(labels < 0, -2, labels)}, "got values from -2"),
                    ({"labels": labels, "alpha": 1.0}, r"alpha must be in \[0, 1\)")]:
        with pytest.raises(ValueError, match=msg):
            label_propagation(t, **kw)


def test_the_episodic_decision_by_hand_in_both_protocols():
    emb, y = _clusters(seed=1, per=8, n_classes=6)
    members = [np.flatnonzero(y == c) for c in range(6)]
    s = neighbour_graph(torch.as_tensor(emb)).to_dense().numpy()
    prop = np.linalg.inv(np.eye(len(y)) - 0.9 * s)
    mass = prop.sum(axis=0)

    def decide(q, support):  # support: (n_way, k_shot) indices
        return np.argmax(prop[q, support].sum(1) / mass[support].sum(1))

    got = episodic_accuracy(emb, y, n_way=5, k_shot=2, protocol="paper", n_repeats=2,
                            random_state=3, decision="label_propagation")
    rng = np.random.RandomState(3)
    want = []
    for _ in range(2):
        support, target = paper_episodes(y, members, 5, 2, rng)
        want += [decide(i, support[i]) == target[i] for i in range(len(y))]
    np.testing.assert_array_equal(got.correct, want)
    got = episodic_accuracy(emb, y, n_way=3, k_shot=2, n_query=3, n_episodes=7,
                            random_state=4, decision="label_propagation")
    idx = random_episodes(members, 3, 5, 7, np.random.RandomState(4))
    want = [decide(idx[e, c, 2 + j], idx[e, :, :2]) == c
            for e in range(7) for c in range(3) for j in range(3)]
    np.testing.assert_array_equal(got.correct, want)
    with pytest.raises(ValueError, match="decision must be 'prototypes' or "
                                         "'label_propagation', got 'knn'"):
        episodic_accuracy(emb, y, decision="knn")


def test_each_paper_episode_is_label_propagation_from_its_supports():
    # independent of the dense propagator: one conjugate-gradient propagation per episode
    emb, y = _clusters(seed=2, per=6, n_classes=6)
    members = [np.flatnonzero(y == c) for c in range(6)]
    got = episodic_accuracy(emb, y, n_way=5, k_shot=2, protocol="paper", n_repeats=1,
                            random_state=5, decision="label_propagation")
    support, target = paper_episodes(y, members, 5, 2, np.random.RandomState(5))
    for i in range(len(y)):
        labels = np.full(len(y), -1)
        for j in range(5):
            labels[support[i, j]] = j
        f = label_propagation(torch.as_tensor(emb), labels, 5)
        assert got.correct[i] == (int(f[i].argmax()) == target[i])


def test_a_clip_no_support_reaches_takes_the_prototypes_answer(small_views):
    # two parts of the graph far apart: classes 0-4, and class 5 with one clip of class 0
    rng = np.random.default_rng(7)
    y = np.repeat(np.arange(6), 12)
    emb = rng.normal(size=(72, 6)) + 3.0 * np.eye(6)[y]
    emb[y == 5] += 200.0
    emb[0] += 200.0
    members = [np.flatnonzero(y == c) for c in range(6)]
    lp = episodic_accuracy(emb, y, n_way=5, k_shot=1, protocol="paper", n_repeats=4,
                           random_state=0, decision="label_propagation")
    proto = episodic_accuracy(emb, y, n_way=5, k_shot=1, protocol="paper", n_repeats=4,
                              random_state=0)
    rng = np.random.RandomState(0)
    fell_back = 0
    for p in range(4):
        support, _ = paper_episodes(y, members, 5, 1, rng)
        if 5 in y[support[0, :, 0]]:  # propagation reaches it from class 5: wrong
            assert not lp.correct[p * 72]
        else:  # nothing reaches it: the prototypes' answer
            fell_back += 1
            assert lp.correct[p * 72] == proto.correct[p * 72]
    assert fell_back > 0
    # the estimator: where no support reaches a query (here: none reaches any, the
    # propagation replaced), the query keeps the prototype logits of the same embeddings
    import sklearn_hallu.classifier._batch as batch

    X, ys = small_views
    clf = tiny_clf(max_epochs=1, embedding_norm="batch_label_propagated_l2").fit(X, ys)
    pl = copy.deepcopy(clf).set_params(embedding_norm="batch_propagated_l2")
    pl.fit_support(X, ys)
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(batch, "label_propagation",
                   lambda emb, labels, n: torch.zeros(len(emb), n, dtype=torch.float64))
        np.testing.assert_allclose(clf.decision_function(X[:12]), pl.decision_function(X[:12]),
                                   rtol=1e-5, atol=1e-5)


@pytest.fixture(scope="module")
def fitted(small_views):
    X, y = small_views
    clf = tiny_clf(max_epochs=1, embedding_norm="batch_label_propagated_l2").fit(X, y)
    return clf, X, y


def test_prediction_spreads_the_supports_labels_over_supports_and_queries(fitted):
    clf, X, y = fitted
    support = np.isin(np.arange(len(y)) % 10, [0, 1])
    clf = copy.deepcopy(clf).fit_support(X[support], y[support])
    queries = X[~support]
    # one call of supports then queries: the propagated embeddings prediction uses
    both = clf.embed(np.concatenate([X[support], queries]))
    labels = np.concatenate([np.searchsorted(clf.classes_, y[support]),
                             np.full(len(queries), -1)])
    f = _by_hand(both, labels, len(clf.classes_))[support.sum():]
    proba = clf.predict_proba(queries)
    np.testing.assert_allclose(proba, f / f.sum(1, keepdims=True), rtol=1e-3, atol=1e-5)
    np.testing.assert_array_equal(clf.predict(queries), clf.classes_[f.argmax(1)])
    logits = clf.decision_function(queries)  # a class no support reached: log 1e-300
    assert np.isfinite(logits).all()
    np.testing.assert_allclose(logits, np.log(np.maximum(f, 1e-300)), rtol=1e-3, atol=1e-3)
    # the embeddings are batch_propagated_l2's; only the decision differs
    prop = copy.deepcopy(clf).set_params(embedding_norm="batch_propagated_l2")
    prop.fit_support(X[support], y[support])
    np.testing.assert_allclose(prop.embed(queries), clf.embed(queries), atol=1e-6)


def test_the_report_and_scorer_classify_as_the_estimator_does(fitted, tmp_path):
    clf, X, y = fitted
    emb = clf.embed(X)
    rep = few_shot_report(clf, X, y, settings=((5, 1),), n_repeats=2, random_state=0)
    lp = episodic_accuracy(emb, y, n_way=5, k_shot=1, protocol="paper", n_repeats=2,
                           random_state=0, decision="label_propagation")
    proto = episodic_accuracy(emb, y, n_way=5, k_shot=1, protocol="paper", n_repeats=2,
                              random_state=0)
    np.testing.assert_allclose(rep.rows[0]["per_clip"], lp.correct.reshape(2, -1).mean(0))
    assert not np.array_equal(lp.correct, proto.correct)  # the decision is not ignored
    scorer = FewShotScorer(5, 1, protocol="paper", n_repeats=2, random_state=0)
    assert scorer(clf, X, y) == pytest.approx(lp.accuracy)
    joblib.dump(clf, tmp_path / "m.joblib")
    np.testing.assert_allclose(joblib.load(tmp_path / "m.joblib").predict_proba(X),
                               clf.predict_proba(X))
