"""Few-shot scorer, class-disjoint folds and the report (sklearn_hallu.model_selection)."""

import re
import subprocess
import sys
import textwrap

import joblib
import numpy as np
import pytest
from sklearn.exceptions import FitFailedWarning
from sklearn.model_selection import GridSearchCV, GroupKFold, cross_val_score
from sklearn.pipeline import Pipeline

from sklearn_hallu import FrequencyMaskTransformer, LogMelTransformer
from sklearn_hallu.datasets import make_sounds
from sklearn_hallu.model_selection import (
    ClassKFold,
    FewShotScorer,
    few_shot_report,
    paired_clip_gain,
)

from .conftest import SMALL_LOGMEL, SMALL_MASK, tiny_clf


def test_class_kfold_never_shares_a_class():
    y = np.repeat(np.arange(10), 4)
    cv = ClassKFold(5, random_state=0)
    seen = []
    for train, test in cv.split(np.zeros(len(y)), y):
        assert not set(y[train]) & set(y[test])
        seen.extend(np.unique(y[test]))
    assert sorted(seen) == list(range(10))
    with pytest.raises(ValueError, match="Cannot split 10 classes into n_splits=11"):
        list(ClassKFold(11).split(y, y))


def test_cross_val_score_with_scorer(pipe_and_data):
    pipe, X, y = pipe_and_data
    scores = cross_val_score(pipe, X, y, cv=ClassKFold(3, random_state=0),
                             scoring=FewShotScorer(n_way=3, k_shot=1, n_episodes=50))
    assert scores.shape == (3,) and np.all((scores > 1 / 3) & (scores <= 1))
    scores_g = cross_val_score(pipe, X, y, groups=y, cv=GroupKFold(3),
                               scoring=FewShotScorer(n_way=3, k_shot=1, n_episodes=50))
    assert scores_g.shape == (3,)


def test_grid_search_split_hz_cached_and_persisted(pipe_and_data, tmp_path):
    pipe, X, y = pipe_and_data
    pipe = pipe.set_params(memory=joblib.Memory(tmp_path / "cache", verbose=0))
    search = GridSearchCV(pipe, {"masks__split_hz": [500.0, 1500.0]},
                          cv=ClassKFold(3, random_state=0),
                          scoring=FewShotScorer(n_way=3, k_shot=1, n_episodes=50), n_jobs=2)
    search.fit(X, y)
    assert search.best_params_["masks__split_hz"] in (500.0, 1500.0)
    assert len(search.cv_results_["mean_test_score"]) == 2
    # the log-mel step was cached on disk, not recomputed for every candidate
    assert any((tmp_path / "cache").rglob("output.pkl"))
    path = tmp_path / "best.joblib"
    joblib.dump(search.best_estimator_, path)
    np.save(tmp_path / "X.npy", X[:10])
    expected = search.best_estimator_.predict_proba(X[:10])
    code = textwrap.dedent(f"""
        import joblib, numpy as np, torch
        torch.set_num_threads({__import__("torch").get_num_threads()})  # as in this process
        from sklearn_hallu import fit_support
        pipe = joblib.load({str(path)!r})
        X = np.load({str(tmp_path / 'X.npy')!r})
        np.save({str(tmp_path / 'p.npy')!r}, pipe.predict_proba(X))
        fit_support(pipe, X[[0, 9]], ["a", "b"])
        print(",".join(pipe.predict(X[[1, 8]])))
    """)
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True,
                         text=True).stdout
    np.testing.assert_array_equal(np.load(tmp_path / "p.npy"), expected)
    assert set(out.strip().split(",")) <= {"a", "b"}


def test_report(pipe_and_data):
    pipe, X, y = pipe_and_data
    pipe.fit(X[y < 8], y[y < 8])
    rep = few_shot_report(pipe, X[y >= 8], y[y >= 8], settings=((2, 1), (4, 5)), n_repeats=3)
    d = rep.as_dict()
    assert set(d) == {"2-way 1-shot", "4-way 5-shot"}
    assert d["4-way 5-shot"]["n_queries"] == 3 * 40
    assert set(d["2-way 1-shot"]["per_class"]) == {8, 9, 10, 11}
    assert "| 2-way 1-shot |" in rep.to_markdown(per_class=True)


# ------------------------------------- searches that no candidate can pass must say so
@pytest.fixture(scope="module")
def readme_old_setup():
    """The README's old search, tiny: 14 classes, ClassKFold(4) (test folds of 3-4
    classes), a 5-way scorer; split frequencies in (fmin, fmax) = (0, 4000) Hz."""
    X, y = make_sounds(n_classes=14, n_per_class=6, sr=8000, duration=0.5, random_state=0)
    pipe = Pipeline([("logmel", LogMelTransformer(**SMALL_LOGMEL)),
                     ("masks", FrequencyMaskTransformer(1000.0, **SMALL_MASK)),
                     ("clf", tiny_clf(max_epochs=1, channels=(4, 4, 4)))])
    return pipe, X, y


def test_search_with_folds_too_small_for_the_scorer_says_why(readme_old_setup):
    pipe, X, y = readme_old_setup
    search = GridSearchCV(pipe, {"masks__split_hz": [1000.0, 2000.0]},
                          cv=ClassKFold(4, random_state=0), refit=False,
                          scoring=FewShotScorer(5, 1, n_episodes=10))
    with pytest.warns(UserWarning) as record:
        search.fit(X, y)
    assert np.isnan(search.cv_results_["mean_test_score"]).all()
    failed = [str(w.message) for w in record if "Scoring failed" in str(w.message)]
    assert len(failed) == 8  # 2 candidates x 4 folds, each with our reason
    ours = r"FewShotScorer\(n_way=5, k_shot=1.*holds [34] classes, fewer than n_way=5"
    assert all(re.search(ours, m) and "min_classes=5" in m for m in failed)


def test_class_kfold_min_classes_stops_the_search_before_any_fit(readme_old_setup):
    pipe, X, y = readme_old_setup
    search = GridSearchCV(pipe, {"masks__split_hz": [1000.0, 2000.0]},
                          cv=ClassKFold(4, min_classes=5, random_state=0),
                          scoring=FewShotScorer(5, 1, n_episodes=10))
    with pytest.raises(ValueError, match=r"ClassKFold\(n_splits=4\) cuts 14 classes into test "
                       r"folds of 3 to 4 classes, fewer than min_classes=5.*n_splits <= 2"):
        search.fit(X, y)
    assert not hasattr(search, "cv_results_")
    # the default refuses only one-class folds; the way out is the largest n_splits
    y7 = np.repeat(np.arange(7), 2)
    with pytest.raises(ValueError, match=r"folds of 1 class, fewer than min_classes=2.*"
                       r"Use n_splits <= 3\.$"):
        list(ClassKFold(7).split(y7, y7))
    with pytest.raises(ValueError, match="min_classes must be an integer >= 1, got 0"):
        ClassKFold(2, min_classes=0)


def test_split_at_fmax_fails_the_fit_and_names_the_value(readme_old_setup):
    pipe, X, y = readme_old_setup
    cv, scorer = ClassKFold(2, min_classes=5, random_state=0), FewShotScorer(5, 1, n_episodes=10)
    at_fmax = "split_hz=4000.0 must lie strictly inside"
    with pytest.raises(ValueError, match=rf"(?s)All the 2 fits failed.*{at_fmax}"):
        GridSearchCV(pipe, {"masks__split_hz": [4000.0]}, cv=cv, scoring=scorer).fit(X, y)
    search = GridSearchCV(pipe, {"masks__split_hz": [1000.0, 4000.0]}, cv=cv, scoring=scorer,
                          refit=False)
    with pytest.warns(FitFailedWarning, match=at_fmax), \
            pytest.warns(UserWarning, match="test scores are non-finite"):  # scikit-learn's
        search.fit(X, y)
    scores = search.cv_results_["mean_test_score"]
    assert np.isfinite(scores[0]) and np.isnan(scores[1])
    assert search.best_params_ == {"masks__split_hz": 1000.0}


def test_scorer_refuses_a_fold_it_cannot_score(pipe_and_data):
    pipe, X, y = pipe_and_data
    scorer = FewShotScorer(5, 1)
    with pytest.raises(ValueError, match=r"FewShotScorer\(n_way=5, k_shot=1, protocol='random'\) "
                       r"cannot score this test fold: it holds 3 classes, fewer than n_way=5"):
        scorer(pipe, X[y < 3], y[y < 3])  # checked before anything is embedded
    few = np.isin(np.arange(len(y)), np.flatnonzero(y == 0)[:3]) | (y > 0)
    with pytest.raises(ValueError, match=r"cannot score this test fold: Class\(es\) 0 \(3\) in "
                       r"this test fold have fewer clips than the 6"):
        scorer(pipe, X[few], y[few])


def test_clip_ci_does_not_shrink_with_passes_over_the_same_clips():
    # 36 clips, 6 classes; each clip has its own fixed offset, so some clips are hard
    # whatever the episode. More passes over the SAME clips shrink the paper's CI (over
    # queries) like 1/sqrt(passes); the CI over clips stays at the clips' spread.
    from sklearn_hallu.model_selection import few_shot_report

    rng = np.random.default_rng(0)
    y = np.repeat(np.arange(6), 6)
    emb = (rng.normal(size=(6, 8))[y] + 0.9 * rng.normal(size=(36, 8))).astype(np.float32)
    rows = {}
    for passes in (10, 100):
        rep = few_shot_report(None, None, y, settings=((5, 1),), n_repeats=passes,
                              embeddings=emb, random_state=0)
        rows[passes] = rep.rows[0]
        assert rows[passes]["n_queries"] == 36 * passes
        assert len(rows[passes]["per_clip"]) == 36
    assert rows[10]["ci95"] / rows[100]["ci95"] > 2.5  # ~sqrt(10)
    assert rows[10]["ci95_clips"] / rows[100]["ci95_clips"] < 1.5
    assert rows[100]["ci95_clips"] > 3 * rows[100]["ci95"]


def test_paired_gain_has_a_seed_interval():
    from scipy.stats import t

    a, b = [1, 1, 0, 1], [0, 1, 0, 1]
    one = paired_clip_gain([(a, b)])
    assert one["gain"] == pytest.approx(25.0) and one["ci95_seeds"] != one["ci95_seeds"]  # NaN
    two = paired_clip_gain([(a, b), (b, b)])
    assert two["per_seed"] == pytest.approx([25.0, 0.0])
    assert two["ci95_seeds"] == pytest.approx(t.ppf(0.975, 1) * 25.0 / 2 ** 0.5 / 2 ** 0.5)
