import subprocess
import sys
import textwrap

import joblib
import numpy as np
import pytest
from sklearn.model_selection import GridSearchCV, GroupKFold, cross_val_score
from sklearn.pipeline import Pipeline

from sklearn_hallu import FrequencyMaskTransformer, LogMelTransformer
from sklearn_hallu.inspection import frequency_importance, plot_frequency_importance
from sklearn_hallu.model_selection import ClassKFold, FewShotScorer, few_shot_report
from sklearn_hallu.sampling import episodic_accuracy, paper_episodes

from .conftest import SMALL_LOGMEL, SMALL_MASK, tiny_clf


def clustered(n_classes=8, n_per=10, dim=16, spread=0.01, seed=0):
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(n_classes, dim)) * 10
    y = np.repeat(np.arange(n_classes), n_per)
    return centres[y] + spread * rng.normal(size=(len(y), dim)), y


@pytest.mark.parametrize("protocol", ["random", "paper"])
def test_perfect_embedding_scores_one(protocol):
    emb, y = clustered()
    res = episodic_accuracy(emb, y, n_way=5, k_shot=1, protocol=protocol, n_repeats=2,
                            n_episodes=50, random_state=0)
    assert res.accuracy == 1.0


@pytest.mark.parametrize("n_way", [2, 5])
def test_random_embedding_scores_chance(n_way):
    rng = np.random.default_rng(1)
    y = np.repeat(np.arange(8), 20)
    emb = rng.normal(size=(len(y), 32))
    res = episodic_accuracy(emb, y, n_way=n_way, k_shot=1, n_episodes=1000, random_state=0)
    assert abs(res.accuracy - 1 / n_way) < 0.03


def test_paper_protocol_episode_structure():
    y = np.repeat(np.arange(6), 7)
    classes, y_idx = np.unique(y, return_inverse=True)
    members = [np.flatnonzero(y_idx == c) for c in range(6)]
    rng = np.random.RandomState(0)
    support, target = paper_episodes(y_idx, members, n_way=5, k_shot=3, rng=rng)
    assert support.shape == (len(y), 5, 3)
    for i in range(len(y)):
        own = support[i, target[i]]
        assert i not in own and np.all(y[own] == y[i])
        cls = [set(y[support[i, j]]) for j in range(5)]
        assert all(len(c) == 1 for c in cls)  # each slot one class
        assert len(set().union(*cls)) == 5  # five different classes
    res = episodic_accuracy(np.eye(len(y)), y, n_way=5, k_shot=3, protocol="paper",
                            n_repeats=4, random_state=0)
    assert res.correct.size == 4 * len(y)  # every clip a query once per pass


def test_scorer_errors_name_the_numbers():
    emb, y = clustered(n_classes=3, n_per=4)
    with pytest.raises(ValueError, match=r"n_way=5 is larger than the number of classes.*\(3\)"):
        episodic_accuracy(emb, y, n_way=5)
    with pytest.raises(ValueError, match=r"fewer clips than the 6.*k_shot=5 \+ n_query=1"):
        episodic_accuracy(emb, y, n_way=3, k_shot=5, n_query=1)
    with pytest.raises(ValueError, match=r"fewer clips than the 5 .*the query itself"):
        episodic_accuracy(emb, y, n_way=3, k_shot=4, protocol="paper")


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


@pytest.fixture(scope="module")
def pipe_and_data(sounds):
    X, y = sounds
    pipe = Pipeline(
        [("logmel", LogMelTransformer(**SMALL_LOGMEL)),
         ("masks", FrequencyMaskTransformer(1000.0, **SMALL_MASK)),
         ("clf", tiny_clf(max_epochs=2))],
    )
    return pipe, X, y


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


def test_report_and_frequency_importance(pipe_and_data):
    pipe, X, y = pipe_and_data
    pipe.fit(X[y < 8], y[y < 8])
    rep = few_shot_report(pipe, X[y >= 8], y[y >= 8], settings=((2, 1), (4, 5)), n_repeats=3)
    d = rep.as_dict()
    assert set(d) == {"2-way 1-shot", "4-way 5-shot"}
    assert d["4-way 5-shot"]["n_queries"] == 3 * 40
    assert set(d["2-way 1-shot"]["per_class"]) == {8, 9, 10, 11}
    assert "| 2-way 1-shot |" in rep.to_markdown(per_class=True)
    imp = frequency_importance(pipe, X[y >= 8], y[y >= 8], n_way=4, k_shot=2, n_episodes=30)
    assert len(imp["ratio"]) == 4 and np.all(imp["correct_high"] >= 0)
    import matplotlib

    matplotlib.use("Agg")
    ax = plot_frequency_importance(imp)
    assert len(ax.patches) == 4
