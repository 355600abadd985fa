"""Few-shot scorer, class-disjoint folds and the report (sklearn_hallu.model_selection)."""

import subprocess
import sys
import textwrap

import joblib
import numpy as np
import pytest
from sklearn.model_selection import GridSearchCV, GroupKFold, cross_val_score

from sklearn_hallu.model_selection import ClassKFold, FewShotScorer, few_shot_report


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
