"""Open-set episodic scorer (sklearn_hallu.model_selection.OpenSetScorer)."""

import json
import warnings

import numpy as np
import pytest
from sklearn.model_selection import GridSearchCV, cross_val_score

from sklearn_hallu import HalluAudioClassifier, embed
from sklearn_hallu.model_selection import ClassKFold, OpenSetResult, OpenSetScorer


def clusters(n_classes=8, n_per_class=12, dim=16, spread=10.0, seed=0):
    """Gaussian clusters, one per class, ``spread`` apart (unit noise)."""
    rng = np.random.RandomState(seed)
    y = np.repeat(np.arange(n_classes), n_per_class)
    return spread * rng.normal(size=(n_classes, dim))[y] + rng.normal(size=(len(y), dim)), y


def test_separated_classes_score_near_one_random_features_near_chance():
    emb, y = clusters()
    res = OpenSetScorer(n_way=3, k_shot=2, n_episodes=100).evaluate_embeddings(emb, y)
    assert isinstance(res, OpenSetResult) and res.n_episodes == 100
    assert res.auroc > 0.99 and res.accuracy == 1.0
    assert res.known_accuracy_at_far > 0.95
    assert res.unknown_rejected > 0.95  # far clusters: refused at the calibrated threshold
    assert 0 <= res.known_rejected < 0.3

    noise = np.random.RandomState(1).normal(size=emb.shape)  # nothing tells classes apart
    res = OpenSetScorer(n_way=3, k_shot=2, n_episodes=300).evaluate_embeddings(noise, y)
    assert abs(res.auroc - 0.5) < 0.05
    assert abs(res.accuracy - 1 / 3) < 0.05
    assert res.known_accuracy_at_far < 0.15  # ~5% of accepted clips, a third right

    same = OpenSetScorer(n_way=3, k_shot=2, n_episodes=20).evaluate_embeddings(
        np.zeros_like(emb), y)  # every score tied
    assert same.auroc == 0.5 and same.known_accuracy_at_far == 0.0
    np.testing.assert_array_equal(same.episode_auroc, 0.5)


def test_intervals_and_dict():
    emb, y = clusters(spread=1.0)  # overlapping classes: the metrics vary by episode
    res = OpenSetScorer(n_way=3, k_shot=3, n_episodes=50).evaluate_embeddings(emb, y)
    for m in ("auroc", "accuracy", "known_accuracy_at_far", "known_rejected",
              "unknown_rejected"):
        per_episode = getattr(res, f"episode_{m}")
        assert per_episode.shape == (50,)
        assert getattr(res, m) == pytest.approx(per_episode.mean())
        expected = 1.96 * per_episode.std(ddof=1) / np.sqrt(50)
        assert expected > 0 and res.ci95(m) == pytest.approx(expected)
    d = res.as_dict()
    assert d["auroc"] == res.auroc and d["known_rejected_ci95"] == res.ci95("known_rejected")
    assert (d["n_way"], d["k_shot"], d["n_unknown_way"], d["n_episodes"]) == (3, 3, 3, 50)
    assert d["false_alarm_rate"] == 0.05 and d["quantile"] == 0.95
    json.dumps(d, allow_nan=False)
    with pytest.raises(ValueError, match="metric must be one of .* got 'f1'"):
        res.ci95("f1")


def test_quantile_and_false_alarm_rate_move_the_thresholds():
    emb, y = clusters(spread=1.5)
    strict = OpenSetScorer(3, 3, quantile=0.5, n_episodes=100).evaluate_embeddings(emb, y)
    loose = OpenSetScorer(3, 3, quantile=1.0, n_episodes=100).evaluate_embeddings(emb, y)
    assert strict.known_rejected > loose.known_rejected
    assert strict.unknown_rejected > loose.unknown_rejected
    assert strict.auroc == loose.auroc  # the ranking does not depend on the threshold
    many = OpenSetScorer(3, 3, false_alarm_rate=0.5, n_episodes=100).evaluate_embeddings(
        emb, y)
    assert many.known_accuracy_at_far > strict.known_accuracy_at_far
    assert np.all(many.episode_known_accuracy_at_far <= many.episode_accuracy)


def test_one_shot_has_no_leave_one_out_metrics():
    emb, y = clusters()
    res = OpenSetScorer(n_way=4, k_shot=1, n_episodes=30).evaluate_embeddings(emb, y)
    assert np.isnan(res.episode_known_rejected).all()
    assert np.isnan(res.unknown_rejected) and np.isnan(res.ci95("known_rejected"))
    assert res.auroc > 0.99  # the other metrics need no calibration
    d = res.as_dict()
    assert d["known_rejected"] is None and d["unknown_rejected_ci95"] is None
    json.dumps(d, allow_nan=False)  # valid JSON: no NaN


def test_same_random_state_same_episodes():
    emb, y = clusters(spread=1.0)
    a = OpenSetScorer(3, 2, n_episodes=40, random_state=7).evaluate_embeddings(emb, y)
    b = OpenSetScorer(3, 2, n_episodes=40, random_state=7).evaluate_embeddings(emb, y)
    c = OpenSetScorer(3, 2, n_episodes=40, random_state=8).evaluate_embeddings(emb, y)
    for m in ("auroc", "known_accuracy_at_far", "known_rejected"):
        np.testing.assert_array_equal(getattr(a, f"episode_{m}"), getattr(b, f"episode_{m}"))
    assert not np.array_equal(a.episode_auroc, c.episode_auroc)


def test_number_of_unknown_classes():
    emb, y = clusters(n_classes=8)
    assert OpenSetScorer(5, 1, n_episodes=2).evaluate_embeddings(emb, y).n_unknown_way == 3
    assert OpenSetScorer(3, 1, n_episodes=2).evaluate_embeddings(emb, y).n_unknown_way == 3
    assert OpenSetScorer(2, 1, n_episodes=2).evaluate_embeddings(emb, y).n_unknown_way == 2
    res = OpenSetScorer(3, 1, n_unknown_way=5, n_episodes=2).evaluate_embeddings(emb, y)
    assert res.n_unknown_way == 5


@pytest.mark.parametrize("kw, message", [
    (dict(n_way=1), "n_way must be an integer >= 2, got 1"),
    (dict(k_shot=0), "k_shot must be an integer >= 1, got 0"),
    (dict(n_unknown_way=0), "n_unknown_way must be an integer >= 1, got 0"),
    (dict(n_query=2.5), "n_query must be an integer >= 1, got 2.5"),
    (dict(n_episodes=0), "n_episodes must be an integer >= 1, got 0"),
    (dict(false_alarm_rate=0), r"false_alarm_rate must be a number in \(0, 1\), got 0"),
    (dict(quantile=1.5), r"quantile must be a number in \(0, 1\], got 1.5"),
    (dict(metric="accuracy"), "metric must be one of .*'known_accuracy_at_far'.*got "
                              "'accuracy'"),
])
def test_parameters_are_checked(kw, message):
    emb, y = clusters()
    with pytest.raises(ValueError, match=message):
        OpenSetScorer(**kw).evaluate_embeddings(emb, y)


def test_folds_that_cannot_give_an_episode_say_why():
    emb, y = clusters(n_classes=5)
    with pytest.raises(ValueError, match=r"holds 5 classes.*n_way=5 known classes plus at "
                                         r"least 1 unknown class \(6 in all\). Use n_way at "
                                         r"most 4, .*min_classes=6"):
        OpenSetScorer(5, 1).evaluate_embeddings(emb, y)
    with pytest.raises(ValueError, match=r"n_unknown_way=3 unknown classes \(6 in all\)"
                                         r"\. Use n_way at most 2, or n_unknown_way at most 2"):
        OpenSetScorer(3, 1, n_unknown_way=3).evaluate_embeddings(emb, y)
    with pytest.raises(ValueError, match=r"fewer clips than the 13 an episode needs "
                                         r"\(k_shot=8 \+ n_query=5\)"):
        OpenSetScorer(3, 8).evaluate_embeddings(emb, y)
    with pytest.raises(ValueError, match=r"one row per label: got shape \(59, 16\) for 60"):
        OpenSetScorer(3, 1).evaluate_embeddings(emb[:-1], y)


# ------------------------------------------------------------------ with a fitted model
@pytest.fixture(scope="module")
def tiny_data():
    """12 'spectrogram' classes of 8 clips, each class its own offset pattern."""
    rng = np.random.RandomState(0)
    y = np.repeat(np.arange(12), 8)
    X = 0.05 * rng.rand(len(y), 1, 8, 16).astype(np.float32)
    X += 3 * rng.rand(12, 1, 8, 16).astype(np.float32)[y]
    return X, y


def tiny_model(**kw):
    return HalluAudioClassifier(train_backbone=False, channels=(4, 4, 4), standardize=False,
                                random_state=0, n_threads=1, **kw)


def test_evaluate_embeds_once_and_checks_the_fold_first(tiny_data):
    X, y = tiny_data
    clf = tiny_model().fit(X[y < 6], y[y < 6])
    scorer = OpenSetScorer(3, 2, n_episodes=30)
    res = scorer.evaluate(clf, X[y >= 6], y[y >= 6])
    same = scorer.evaluate_embeddings(embed(clf, X[y >= 6]), y[y >= 6])
    np.testing.assert_array_equal(res.episode_auroc, same.episode_auroc)
    assert res.auroc > 0.8  # the classes' patterns survive a random backbone; chance 0.5
    assert scorer(clf, X[y >= 6], y[y >= 6]) == res.auroc
    # an unfitted model: the fold is refused before anything is embedded
    with pytest.raises(ValueError, match="holds 3 classes.*record this score as NaN"):
        scorer(tiny_model(), X[y < 3], y[y < 3])


def test_cross_val_score_and_grid_search(tiny_data):
    X, y = tiny_data
    cv = ClassKFold(2, random_state=0)
    scorer = OpenSetScorer(3, 2, n_query=3, n_episodes=20, metric="known_accuracy_at_far")
    scores = cross_val_score(tiny_model(), X, y, cv=cv, scoring=scorer)
    assert scores.shape == (2,) and np.all((scores > 0) & (scores <= 1))
    train, test = next(cv.split(X, y))  # the first fold's score, by hand
    clf = tiny_model().fit(X[train], y[train])
    assert scores[0] == scorer.evaluate(clf, X[test], y[test]).known_accuracy_at_far

    search = GridSearchCV(tiny_model(), {"embedding_norm": [None, "centered_l2"]}, cv=cv,
                          scoring=OpenSetScorer(3, 2, n_query=3, n_episodes=20))
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)  # no "Scoring failed"
        search.fit(X, y)
    means = search.cv_results_["mean_test_score"]
    assert means.shape == (2,) and np.all((means > 0.5) & (means <= 1))
