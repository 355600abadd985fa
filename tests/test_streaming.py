"""predict_files: bounded batches, the numbers of the one-call predict, errors by name."""

import os
import warnings

import numpy as np
import pytest
import soundfile as sf
from sklearn.pipeline import Pipeline

from sklearn_hallu import (
    FrequencyMaskTransformer,
    LogMelTransformer,
    fit_support,
    fit_support_windows,
    predict_files,
    predict_proba_windows,
)
from sklearn_hallu.exceptions import AudioCroppedWarning, ClipWarning, SilentClipWarning
from sklearn_hallu.streaming import AudioFileError, FilePrediction, check_audio_files

from .conftest import SMALL_LOGMEL, SMALL_MASK, tiny_clf

SR = SMALL_LOGMEL["sr"]


@pytest.fixture(scope="module")
def model_and_files(sounds, tmp_path_factory):
    """A Pipeline trained on 8 classes, given 4 new ones; 20 query files of those."""
    X, y = sounds
    base = y < 8
    pipe = Pipeline([("logmel", LogMelTransformer(**SMALL_LOGMEL)),
                     ("masks", FrequencyMaskTransformer(1000.0, **SMALL_MASK)),
                     ("clf", tiny_clf(max_epochs=1))]).fit(X[base], y[base])
    Xn, yn = X[~base], y[~base]
    support = np.concatenate([np.flatnonzero(yn == c)[:2] for c in np.unique(yn)])
    fit_support(pipe, Xn[support], yn[support])
    folder = tmp_path_factory.mktemp("queries")
    paths = []
    for i in np.setdiff1d(np.arange(len(yn)), support)[:20]:
        paths.append(str(folder / f"q{i:02d}.wav"))
        sf.write(paths[-1], Xn[i], SR, subtype="FLOAT")
    return pipe, paths, folder


def _proba(results):
    return np.stack([r.proba for r in results])


def test_same_numbers_as_one_predict_proba_call(model_and_files):
    pipe, paths, _ = model_and_files
    expected = pipe.predict_proba(paths)
    for batch_size in (1, 3, 7, 256):
        results = list(predict_files(pipe, paths, batch_size=batch_size))
        assert [r.path for r in results] == paths
        assert all(isinstance(r, FilePrediction) and r.ok for r in results)
        np.testing.assert_allclose(_proba(results), expected, rtol=1e-6, atol=1e-9)
        assert [r.label for r in results] == list(pipe.classes_[expected.argmax(1)])
        assert all(r.seconds == pytest.approx(0.5) for r in results)


def test_windows_keep_the_behaviour_of_predict_proba_windows(model_and_files, sounds, tmp_path):
    pipe, paths, _ = model_and_files
    X, y = sounds
    long = tmp_path / "long.wav"  # 1.5 s: five windows of 0.5 s
    sf.write(long, np.concatenate([X[90], X[95], X[100]]), SR, subtype="FLOAT")
    queries = paths[:5] + [str(long)]
    import copy

    windowed = copy.deepcopy(pipe)
    keep = (y >= 8)
    fit_support_windows(windowed, [X[i] for i in np.flatnonzero(keep)[::5]], y[keep][::5])
    for pool in ("mean", "max"):
        expected = predict_proba_windows(windowed, queries, pool=pool)
        got = list(predict_files(windowed, queries, batch_size=4, windows=True, pool=pool))
        np.testing.assert_allclose(_proba(got), expected, rtol=1e-6, atol=1e-9)
        assert not any(r.cropped for r in got) and got[-1].seconds == pytest.approx(1.5)
    with pytest.warns(AudioCroppedWarning, match=r"1 of 6 files are longer.*long\.wav"):
        cut = list(predict_files(pipe, queries, batch_size=4))
    assert [r.cropped for r in cut] == [False] * 5 + [True]


def test_batches_are_bounded_and_results_come_before_the_input_ends(model_and_files,
                                                                    monkeypatch):
    pipe, paths, _ = model_and_files
    clf = pipe.steps[-1][1]
    sizes = []
    real = clf.predict_proba
    monkeypatch.setattr(clf, "predict_proba", lambda X: sizes.append(len(X)) or real(X),
                        raising=False)
    pulled = []

    def lazy_paths():  # a generator: its length is never asked for
        for p in paths:
            pulled.append(p)
            yield p

    results = predict_files(pipe, lazy_paths(), batch_size=4)
    first = next(results)
    assert first.path == paths[0]
    assert len(pulled) <= 8  # this batch and the one read ahead, not all 20
    rest = list(results)
    assert len(rest) == 19 and max(sizes) == 4 and sum(sizes) == 20


def test_errors_stop_by_name_or_are_skipped_and_listed(model_and_files, tmp_path):
    pipe, paths, _ = model_and_files
    bad = tmp_path / "bad.wav"
    bad.write_bytes(b"not audio")
    dangling = tmp_path / "annexed.wav"
    os.symlink(tmp_path / ".git" / "annex" / "objects" / "x", dangling)
    loop = tmp_path / "loop.wav"
    os.symlink(loop, loop)
    short = tmp_path / "short.wav"
    sf.write(short, np.ones(100) * 0.1, SR)
    queries = paths[:5] + [str(bad)] + paths[5:9] + [str(dangling), str(loop), str(short)]

    got = []
    with pytest.raises(AudioFileError, match=r"bad\.wav.*could not be decoded.*"
                       r"on_error='skip'") as exc:
        for r in predict_files(pipe, queries, batch_size=3):
            got.append(r.path)
    assert got == paths[:5] and exc.value.n_done == 5 and exc.value.path == str(bad)

    with pytest.warns(ClipWarning, match="4 of 13 files are unusable and were skipped"):
        results = list(predict_files(pipe, queries, batch_size=3, on_error="skip"))
    assert [r.path for r in results] == queries
    errors = {os.path.basename(r.path): r.error for r in results if not r.ok}
    assert set(errors) == {"bad.wav", "annexed.wav", "loop.wav", "short.wav"}
    assert "git annex get" in errors["annexed.wav"] and "does not exist" in errors["annexed.wav"]
    assert "symlink loop" in errors["loop.wav"]
    assert "shorter than one frame" in errors["short.wav"]
    assert all(r.label is None and r.proba is None for r in results if not r.ok)
    good = [r for r in results if r.ok]
    np.testing.assert_allclose(_proba(good), pipe.predict_proba(paths[:9]), rtol=1e-6,
                               atol=1e-9)

    problems = dict(check_audio_files(queries, sr=SR, min_samples=SMALL_LOGMEL["n_fft"]))
    assert set(problems) == {str(bad), str(dangling), str(loop), str(short)}
    assert check_audio_files(paths) == []


def test_silent_files_are_flagged_and_named_at_the_end(model_and_files, tmp_path):
    pipe, paths, _ = model_and_files
    silent = tmp_path / "silent.wav"
    sf.write(silent, np.zeros(SR // 2), SR)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        results = list(predict_files(pipe, paths[:3] + [str(silent)], batch_size=2))
    assert [r.silent for r in results] == [False, False, False, True]
    msgs = [w.message for w in caught if isinstance(w.message, SilentClipWarning)]
    assert len(msgs) == 1 and msgs[0].indices == [3]
    assert "1 of 4 files are silent" in str(msgs[0]) and "silent.wav" in str(msgs[0])


def test_options_are_checked_by_name(model_and_files):
    pipe, paths, _ = model_and_files
    with pytest.raises(ValueError, match="batch_size must be a positive integer.*got 0"):
        predict_files(pipe, paths, batch_size=0)
    with pytest.raises(ValueError, match="on_error must be 'stop' or 'skip', got 'ignore'"):
        predict_files(pipe, paths, on_error="ignore")
    with pytest.raises(ValueError, match="apply to windows: pass windows=True"):
        predict_files(pipe, paths, pool="max")
    with pytest.raises(TypeError, match="single path.*Wrap it in a list"):
        predict_files(pipe, paths[0])
    with pytest.raises(TypeError, match="first step is a LogMelTransformer.*got a "
                                        "HalluAudioClassifier"):
        predict_files(pipe.steps[-1][1], paths)
    with pytest.raises(ValueError, match=r"no classes to predict yet.*fit_support"):
        predict_files(Pipeline(pipe.steps[:2] + [("clf", tiny_clf())]), paths)


def test_on_a_dask_cluster_equals_the_local_run(model_and_files):
    distributed = pytest.importorskip("distributed")
    pipe, paths, _ = model_and_files
    local = list(predict_files(pipe, paths, batch_size=3))
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=False,
                                  dashboard_address=None, silence_logs=40) as cluster, \
            distributed.Client(cluster) as client:
        with distributed.get_task_stream(client) as stream, \
                pytest.warns(ClipWarning, match="1 of 21 files are unusable"):
            remote = list(predict_files(pipe, paths + ["missing.wav"], batch_size=3,
                                        client=client, max_in_flight=3, on_error="skip"))
    assert len(stream.data) >= 7  # one task per batch of 3
    assert [r.path for r in remote] == paths + ["missing.wav"]
    assert [r.label for r in remote[:-1]] == [r.label for r in local]
    np.testing.assert_allclose(_proba(remote[:-1]), _proba(local), rtol=1e-6, atol=1e-9)
    assert not remote[-1].ok and "does not exist" in remote[-1].error
