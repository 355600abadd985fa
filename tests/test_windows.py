"""Long recordings: windows that cover every clip, scores pooled per clip."""

import warnings

import numpy as np
import pytest
from sklearn.pipeline import Pipeline

from sklearn_hallu import (
    FrequencyMaskTransformer,
    LogMelTransformer,
    embed_windows,
    fit_support,
    fit_support_windows,
    predict_proba_windows,
    predict_windows,
)
from sklearn_hallu.datasets import make_sounds
from sklearn_hallu.exceptions import AudioCroppedWarning, SilentClipWarning
from sklearn_hallu.preprocessing import window_clips

from .conftest import tiny_clf

SR = 8000
LOGMEL = dict(sr=SR, n_mels=32, n_fft=256, hop_length=128, fmax=4000.0, duration=5.0)


@pytest.fixture(scope="module")
def tones():
    """A model trained on 5 s tones of 4 classes, and one held-out clip of each class."""
    X, y = make_sounds(n_classes=4, n_per_class=7, sr=SR, duration=5.0, random_state=0)
    held = np.arange(len(y)) % 7 == 6
    pipe = Pipeline([
        ("logmel", LogMelTransformer(**LOGMEL)),
        ("masks", FrequencyMaskTransformer(1000.0, sr=SR, n_mels=32, fmax=4000.0)),
        # the paper's loss: with per-view losses this 10-epoch toy is unsure of class 0
        ("clf", tiny_clf(max_epochs=10, per_view_weight=0.0)),
    ]).fit(X[~held], y[~held])
    return pipe, X[held]


def _long_clip(event, *, seed=1):
    """20 s of quiet noise with ``event`` (5 s) at 12-17 s."""
    clip = (0.02 * np.random.default_rng(seed).normal(size=20 * SR)).astype("float32")
    clip[12 * SR : 17 * SR] += event
    return clip


def test_windows_find_a_sound_that_crop_start_misses(tones):
    pipe, events = tones
    missed = []
    for target, event in enumerate(events):
        clip = _long_clip(event)
        with pytest.warns(AudioCroppedWarning):
            start = pipe.predict_proba([clip])[0]  # crop="start": the first 5 s, noise only
        with warnings.catch_warnings():
            warnings.simplefilter("error", AudioCroppedWarning)  # nothing is dropped
            mean = predict_proba_windows(pipe, [clip])[0]
            peak = predict_proba_windows(pipe, [clip], pool="max")[0]
        assert peak.argmax() == target, (target, start, peak)
        if start.argmax() != target:  # the noise alone looks like another class
            missed.append(target)
            assert peak[target] > start[target] and mean[target] > start[target]
    assert len(missed) >= 2  # the noise looks like class 1 (p ~0.6 here, p ~0.01 for 0 and 2)
    assert predict_windows(pipe, [_long_clip(e) for e in events], pool="max").tolist() == [
        0, 1, 2, 3]


def test_windows_cover_every_sample_and_short_clips_pad():
    X = [np.arange(1, 11, dtype="float32"), np.arange(1, 4, dtype="float32"),
         np.arange(1, 5, dtype="float32")]
    windows, clip, start = window_clips(X, sr=1, n_samples=4, hop_length=3)
    assert clip.tolist() == [0, 0, 0, 1, 2] and start.tolist() == [0, 3, 6, 0, 0]
    covered = np.unique(np.concatenate(
        [windows[w][windows[w] > 0] for w in np.flatnonzero(clip == 0)]))
    assert covered.tolist() == list(range(1, 11))  # nothing dropped
    assert windows[clip == 1][0].tolist() == [1, 2, 3, 0]  # padded at the end
    assert windows[clip == 2][0].tolist() == [1, 2, 3, 4]  # exactly one window
    two_d, c2, _ = window_clips(np.stack([X[0], X[0]]), sr=1, n_samples=4, hop_length=3)
    assert np.array_equal(two_d, np.concatenate([windows[clip == 0]] * 2))
    assert c2.tolist() == [0] * (len(two_d) // 2) + [1] * (len(two_d) // 2)


@pytest.mark.parametrize("kwargs,match", [
    (dict(hop_length=0), r"hop_length=0 must be between 1 and n_samples=4"),
    (dict(hop_length=5), r"hop_length=5 must be between 1 and n_samples=4.*skip"),
    (dict(min_samples=20), r"clip 0"),
])
def test_window_clips_errors(kwargs, match):
    with pytest.raises(ValueError, match=match):
        window_clips([np.ones(10, "float32")], sr=1, **{"n_samples": 4, "hop_length": 2,
                                                        **kwargs})


def test_pooling_equals_pooling_by_hand_and_short_clips_match_predict_proba(tones, tmp_path):
    import soundfile as sf

    pipe, events = tones
    long = _long_clip(events[0])
    short = events[1][: 3 * SR]
    windows, clip, _ = window_clips([long], sr=SR, n_samples=5 * SR, hop_length=SR)
    per_window = pipe.predict_proba(windows)
    mean = predict_proba_windows(pipe, [long, short, events[2]], hop_s=1.0)
    assert mean.shape == (3, 4) and np.allclose(mean.sum(axis=1), 1)
    assert np.allclose(mean[0], per_window.mean(axis=0))
    assert np.allclose(mean[1:], pipe.predict_proba([short, events[2]]))  # one window each
    peak = predict_proba_windows(pipe, [long], hop_s=1.0, pool="max")[0]
    assert np.allclose(peak, per_window.max(axis=0) / per_window.max(axis=0).sum())
    emb = embed_windows(pipe, [long, short], hop_s=1.0)
    by_hand = pipe[-1].embed(pipe[:-1].transform(windows)).mean(axis=0)
    assert emb.shape == (2, by_hand.size) and np.allclose(emb[0], by_hand, atol=1e-5)
    sf.write(tmp_path / "long.wav", long, SR, subtype="FLOAT")  # files read as arrays
    assert np.allclose(predict_proba_windows(pipe, [str(tmp_path / "long.wav")], hop_s=1.0),
                       mean[:1])


def test_silent_windows_are_left_out_and_silent_clips_named(tones):
    pipe, events = tones
    clip = np.zeros(20 * SR, dtype="float32")
    clip[12 * SR : 17 * SR] = events[3]
    windows, owner, start = window_clips([clip], sr=SR, n_samples=5 * SR,
                                         hop_length=int(2.5 * SR))
    sound = start + 5 * SR > 12 * SR  # windows 0-5, 2.5-7.5 and 5-10 s are silent
    assert sound.sum() == 4
    with pytest.warns(SilentClipWarning, match=r"1 of 2 clips are silent throughout.*clip 1"):
        proba = predict_proba_windows(pipe, [clip, np.zeros(6 * SR, "float32")])
    assert np.allclose(proba[0], pipe.predict_proba(windows[sound]).mean(axis=0))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        predict_proba_windows(pipe, [np.zeros(SR, "float32"), clip])
    assert [w.message.indices for w in caught] == [[0]]  # the clip, not the window


def test_fit_support_windows_labels_every_window(tones):
    from copy import deepcopy

    pipe, events = tones
    X = [_long_clip(events[0]), events[1], _long_clip(events[2], seed=2)]
    y = np.array(["bird", "car", "bird"])
    fitted = fit_support_windows(deepcopy(pipe), X, y)
    assert fitted[-1].classes_.tolist() == ["bird", "car"]
    windows, clip, _ = window_clips(X, sr=SR, n_samples=5 * SR, hop_length=int(2.5 * SR))
    by_hand = fit_support(deepcopy(pipe), windows, y[clip])
    assert np.allclose(fitted[-1].prototypes_, by_hand[-1].prototypes_, atol=1e-5)
    with pytest.raises(ValueError, match=r"one label per clip: X has 3 clips, y has shape \(2,\)"):
        fit_support_windows(fitted, X, y[:2])


@pytest.mark.parametrize("kwargs,error,match", [
    (dict(pool="median"), ValueError, r"pool must be 'mean' or 'max', got 'median'"),
    (dict(hop_s=0), ValueError, r"hop_s must be a positive number of seconds .*got 0"),
    (dict(hop_s=-1.0), ValueError, r"hop_s must be a positive number"),
    (dict(hop_s="1"), ValueError, r"hop_s must be a positive number.*got '1'"),
    (dict(hop_s=6.0), ValueError, r"hop_s=6.0 is longer than the window \(5 s.*hop_s <= 5"),
])
def test_bad_pool_and_hop_are_named(tones, kwargs, error, match):
    pipe, events = tones
    with pytest.raises(error, match=match):
        predict_proba_windows(pipe, [events[0]], **kwargs)


def test_models_without_a_logmel_step_are_refused(tones):
    pipe, events = tones
    for model in (pipe[-1], pipe[1:]):
        with pytest.raises(TypeError, match=r"first step is a LogMelTransformer.*got a "
                                            r"(HalluAudioClassifier|Pipeline whose first step "
                                            r"is a FrequencyMaskTransformer)\."):
            predict_proba_windows(model, [events[0]])
    free = Pipeline([("logmel", LogMelTransformer(**{**LOGMEL, "duration": None})),
                     ("clf", pipe[-1])])
    with pytest.raises(ValueError, match=r"duration=None .*Set its duration"):
        predict_windows(free, [events[0]])
