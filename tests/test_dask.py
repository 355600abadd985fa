"""Scale-out on Dask: the cluster's results equal the single-process ones.

A LocalCluster of two worker processes (one thread each) stands in for a real
cluster. The classifier runs with ``n_threads=1`` in both runs: a seeded fit
repeats exactly only at the same torch thread count, and a Dask worker may run
with a different default than this process.
"""

import numpy as np
import pytest
import soundfile as sf
from joblib import parallel_config
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import Pipeline

from sklearn_hallu import FrequencyMaskTransformer, LogMelTransformer
from sklearn_hallu.model_selection import ClassKFold, FewShotScorer
from sklearn_hallu.parallel import transform_in_parallel

from .conftest import SMALL_LOGMEL, SMALL_MASK, tiny_clf

distributed = pytest.importorskip("distributed")


@pytest.fixture(scope="module")
def client():
    cluster = distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None,
        silence_logs=40,  # logging.ERROR
    )
    client = distributed.Client(cluster)
    try:
        client.wait_for_workers(2, timeout=60)
        yield client
    finally:
        client.close()
        cluster.close()


def _search():
    pipe = Pipeline(
        [("logmel", LogMelTransformer(**SMALL_LOGMEL)),
         ("masks", FrequencyMaskTransformer(1000.0, **SMALL_MASK)),
         ("clf", tiny_clf(max_epochs=1, channels=(4, 4, 4), n_threads=1))],
    )
    grid = {"masks__split_hz": [700.0, 2000.0], "clf__lr": [0.01, 0.05]}
    return GridSearchCV(pipe, grid, cv=ClassKFold(2, random_state=0),
                        scoring=FewShotScorer(n_way=3, k_shot=1, n_episodes=40, n_repeats=2),
                        refit=False)


def _score_keys(cv_results):
    return [k for k in cv_results if k.endswith("test_score") and "rank" not in k]


def test_grid_search_on_cluster_equals_n_jobs_1(client, sounds):
    X, y = sounds
    single = _search().set_params(n_jobs=1).fit(X, y)
    with distributed.get_task_stream(client) as stream, parallel_config(backend="dask"):
        on_cluster = _search().set_params(n_jobs=-1).fit(X, y)
    # the fits really ran on the cluster, on both workers
    assert len(stream.data) >= 8
    assert len({t["worker"] for t in stream.data}) == 2
    assert on_cluster.best_params_ == single.best_params_
    keys = _score_keys(single.cv_results_)
    assert "mean_test_score" in keys and "split1_test_score" in keys
    for key in keys:
        np.testing.assert_array_equal(on_cluster.cv_results_[key], single.cv_results_[key],
                                      err_msg=key)
    np.testing.assert_array_equal(on_cluster.cv_results_["rank_test_score"],
                                  single.cv_results_["rank_test_score"])
    assert np.ptp(single.cv_results_["mean_test_score"]) > 0  # the grid is not degenerate


def test_parallel_logmel_on_cluster_equals_in_process(client, sounds, tmp_path):
    X, _ = sounds
    logmel = LogMelTransformer(**SMALL_LOGMEL)
    expected = logmel.transform(X)
    with distributed.get_task_stream(client) as stream, parallel_config(backend="dask"):
        S = transform_in_parallel(logmel, X)
    assert len({t["worker"] for t in stream.data}) == 2
    np.testing.assert_array_equal(S, expected)
    # a folder of files, read by the workers (a LocalCluster shares this disk)
    paths = []
    for i in range(0, len(X), 5):
        p = tmp_path / f"clip{i:03d}.wav"
        sf.write(p, X[i], SMALL_LOGMEL["sr"], subtype="FLOAT")
        paths.append(str(p))
    with parallel_config(backend="dask"):
        S_files = transform_in_parallel(logmel, paths, n_chunks=5)
    np.testing.assert_array_equal(S_files, logmel.transform(paths))


@pytest.mark.parametrize("n_chunks", [1, 2, 3, 7, 100])
def test_transform_in_parallel_in_process(sounds, n_chunks):
    X, _ = sounds
    X = X[:23]
    logmel = LogMelTransformer(**{**SMALL_LOGMEL, "batch_size": 4})
    expected = logmel.transform(X)
    np.testing.assert_array_equal(transform_in_parallel(logmel, X, n_chunks=n_chunks), expected)
    np.testing.assert_array_equal(transform_in_parallel(logmel, list(X), n_chunks=n_chunks),
                                  expected)


def test_transform_in_parallel_errors(sounds):
    X, _ = sounds
    logmel = LogMelTransformer(**SMALL_LOGMEL)
    with pytest.raises(TypeError, match=r"got the class LogMelTransformer\. Pass LogMel"):
        transform_in_parallel(LogMelTransformer, X)
    with pytest.raises(TypeError, match="must have a transform method; got ufunc"):
        transform_in_parallel(np.log, X)
    with pytest.raises(ValueError, match="n_chunks must be a positive integer"):
        transform_in_parallel(logmel, X, n_chunks=0)
    with pytest.raises(ValueError, match="X holds no clips"):
        transform_in_parallel(logmel, [])
    with pytest.raises(TypeError, match="single path.*Wrap it in a list"):
        transform_in_parallel(logmel, "clip.wav")
    with pytest.raises(TypeError, match="has no length.*list\\(X\\)"):
        transform_in_parallel(logmel, (x for x in X))
    free = LogMelTransformer(**{**SMALL_LOGMEL, "duration": None, "batch_size": 1})
    with pytest.raises(ValueError, match="different shapes past the first axis"):
        transform_in_parallel(free, [X[0], X[1][:3000]], n_chunks=2)
