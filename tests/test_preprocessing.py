import pickle
import warnings

import librosa
import numpy as np
import pytest
import soundfile as sf
from sklearn.base import clone
from sklearn.utils._param_validation import InvalidParameterError

from sklearn_hallu import FrequencyMaskTransformer, LogMelTransformer
from sklearn_hallu.datasets import make_sounds
from sklearn_hallu.exceptions import AudioCroppedWarning, SilentClipWarning
from sklearn_hallu.preprocessing import band_rows, mel_row_centres

from .conftest import SMALL_LOGMEL, SMALL_MASK, assert_matches_reference, librosa_reference


@pytest.fixture(scope="module")
def five_second_clips():
    X, y = make_sounds(n_classes=3, n_per_class=2, sr=16000, duration=5.0, random_state=1)
    X[1] *= 1e-3  # a quiet clip beside loud ones
    return X


def test_default_shape_is_papers(five_second_clips):
    S = LogMelTransformer().fit_transform(five_second_clips)
    assert S.shape == (6, 128, 160)
    assert S.dtype == np.float32


@pytest.mark.parametrize("ref", [1.0, "max"])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_matches_librosa_per_clip(five_second_clips, ref, dtype):
    S = LogMelTransformer(ref=ref, dtype=dtype).fit_transform(five_second_clips)
    refs = np.stack([librosa_reference(c, ref=ref) for c in five_second_clips])
    assert_matches_reference(S, refs, dtype)


@pytest.mark.parametrize("ref", [1.0, "max"])
def test_each_clip_scaled_on_its_own(five_second_clips, ref):
    """A clip's output does not depend on the batch it is in.

    Batched and single-clip float32 STFTs may sum in another order (torch threads split
    the work differently), which moves cells by about 1e-5 dB; the tolerance, 1e-3 dB,
    is 100 times that and far below what joint scaling would do: clip 1 is 60 dB quieter
    than the others, so scaling the batch jointly would move it by tens of dB.
    """
    tr = LogMelTransformer(ref=ref, batch_size=4)
    batch = tr.transform(five_second_clips)
    alone = np.stack([tr.transform(c[None])[0] for c in five_second_clips])
    np.testing.assert_allclose(batch, alone, rtol=0, atol=1e-3)
    if ref == "max":  # each clip's own peak is 0 dB, the quiet one's too
        np.testing.assert_allclose(batch.max(axis=(1, 2)), 0.0, atol=1e-3)
    else:  # top_db below the clip's own peak: the quiet clip reaches below batch peak - 80
        assert batch[1].min() < batch.max() - 80.0 - 1.0


def test_crop_and_pad_are_documented_behaviour(rng):
    sr = 8000
    long = rng.normal(size=sr).astype(np.float32)
    short = long[: sr // 2]
    tr = LogMelTransformer(**{**SMALL_LOGMEL, "duration": 0.75})
    with pytest.warns(AudioCroppedWarning, match=r"1 of 2 clips.*drops 0\.25 s"):
        S = tr.transform([long, short])
    n = int(0.75 * sr)
    padded = np.zeros(n, np.float32)
    padded[: short.size] = short
    np.testing.assert_array_equal(S[0], tr.transform(long[None, :n])[0])
    np.testing.assert_array_equal(S[1], tr.transform(padded[None])[0])


def test_duration_none_needs_equal_lengths(rng):
    tr = LogMelTransformer(**{**SMALL_LOGMEL, "duration": None})
    assert tr.transform(rng.normal(size=(2, 4000))).shape[0] == 2
    with pytest.raises(ValueError, match="different lengths.*Set duration"):
        tr.transform([rng.normal(size=4000), rng.normal(size=3000)])


def test_silent_clip_is_the_db_floor_not_loud(rng):
    """An all-zero clip has no peak to scale to: it becomes the -top_db floor (with a
    warning naming it), not a flat 0 dB; the normal clip beside it is unchanged."""
    normal = rng.normal(size=4000).astype(np.float32)
    X = np.stack([normal, np.zeros(4000, np.float32), 1e-9 * normal])
    tr = LogMelTransformer(**SMALL_LOGMEL)
    with pytest.warns(SilentClipWarning, match=r"2 of 3 clips are silent.*clip 1, clip 2"):
        S = tr.transform(X)
    np.testing.assert_array_equal(S[1:], -80.0)
    np.testing.assert_allclose(S[0], tr.transform(normal[None])[0], atol=1e-4)
    assert S[0].max() == 0.0
    with pytest.warns(SilentClipWarning):  # top_db=None: the log's floor, -100 dB
        S = LogMelTransformer(**{**SMALL_LOGMEL, "top_db": None}).transform(X[1:2])
    np.testing.assert_array_equal(S, -100.0)


def test_silent_file_is_named(tmp_path):
    sf.write(tmp_path / "quiet.wav", np.zeros(4000, np.float32), 8000)
    with pytest.warns(SilentClipWarning, match=r"quiet\.wav"):
        LogMelTransformer(**SMALL_LOGMEL).transform([tmp_path / "quiet.wav"])


@pytest.mark.parametrize("crop", ["start", "centre", "loudest"])
def test_crop_keeps_the_chosen_window(crop):
    """A 3 s clip, 1 s kept: a burst at 2.0-2.5 s is kept by 'loudest' only."""
    sr = 8000
    y = np.full(3 * sr, 1e-3, np.float32)
    y[2 * sr : 2 * sr + sr // 2] = 1.0
    tr = LogMelTransformer(**{**SMALL_LOGMEL, "duration": 1.0, "crop": crop})
    with pytest.warns(AudioCroppedWarning, match=rf"1 of 1 clips.*3 s.*crop='{crop}'.*drops 2 s"):
        S = tr.transform(y[None])
    start = {"start": 0, "centre": sr, "loudest": 3 * sr // 2}[crop]
    expected = LogMelTransformer(**{**SMALL_LOGMEL, "duration": None}).transform(
        y[None, start : start + sr])
    np.testing.assert_array_equal(S, expected)


def test_no_crop_warning_when_nothing_is_dropped(rng):
    with warnings.catch_warnings():
        warnings.simplefilter("error", AudioCroppedWarning)
        LogMelTransformer(**SMALL_LOGMEL).fit_transform(rng.normal(size=(2, 4000)))


@pytest.mark.parametrize("fmt,ext", [("WAV", ".wav"), ("FLAC", ".flac"), ("OGG", ".ogg")])
def test_reads_files_mixes_to_mono_and_resamples(tmp_path, rng, fmt, ext):
    sr_file = 22050
    stereo = 0.1 * rng.normal(size=(sr_file, 2)).astype(np.float32)
    path = tmp_path / f"clip{ext}"
    sf.write(path, stereo, sr_file, format=fmt)
    tr = LogMelTransformer(**{**SMALL_LOGMEL, "duration": 1.0})
    S = tr.transform([path, str(path)])
    assert S.shape == (2, 32, 1 + 8000 // 128)
    decoded, _ = sf.read(path, dtype="float32")
    mono = librosa.resample(decoded.mean(axis=1), orig_sr=sr_file, target_sr=8000)
    np.testing.assert_allclose(S[0], tr.transform(mono[None])[0], atol=1e-3)


# ---------------------------------------------------------------- bad input
@pytest.mark.parametrize(
    "X,exc,match",
    [
        (np.full((2, 4000), np.nan), ValueError, "clip 0 contains NaN or infinity"),
        (np.full((1, 4000), np.inf), ValueError, "NaN or infinity"),
        (np.zeros((0, 4000)), ValueError, "no clips"),
        (np.zeros((2, 3, 4000)), ValueError, r"must be 2-D.*got shape \(2, 3, 4000\)"),
        (np.zeros((2, 100)), ValueError,
         r"100 samples \(X has 100 feature\(s\).*shorter than one frame"),
        ([], ValueError, "no clips"),
        ("clip.wav", TypeError, r"single path.*\[path\]"),
    ],
)
def test_logmel_bad_input(X, exc, match):
    with pytest.raises(exc, match=match):
        LogMelTransformer(**SMALL_LOGMEL).fit_transform(X)


def test_missing_and_undecodable_files_are_named(tmp_path):
    bad = tmp_path / "noise.wav"
    bad.write_bytes(b"this is not audio")
    tr = LogMelTransformer(**SMALL_LOGMEL)
    with pytest.raises(ValueError, match=r"nowhere\.wav.*does not exist"):
        tr.transform([tmp_path / "nowhere.wav"])
    with pytest.raises(ValueError, match=r"noise\.wav.*could not be decoded"):
        tr.transform([bad])


@pytest.mark.parametrize("param,value", [("sr", 0), ("sr", -16000), ("hop_length", 0),
                                          ("n_mels", 0), ("duration", -1.0)])
def test_logmel_bad_parameters(param, value):
    with pytest.raises(InvalidParameterError, match=f"'{param}' parameter"):
        LogMelTransformer(**{param: value}).fit(np.zeros((1, 16000)))


def test_fmax_above_nyquist():
    with pytest.raises(ValueError, match="fmax=9000.*sr/2"):
        LogMelTransformer(fmax=9000.0).fit(np.zeros((1, 16000)))


def test_input_is_not_modified(rng):
    X = rng.normal(size=(2, 4000)).astype(np.float32)
    before = X.copy()
    LogMelTransformer(**SMALL_LOGMEL).fit_transform(X)
    np.testing.assert_array_equal(X, before)


# ---------------------------------------------------------------- masks
def test_mel_rows_of_design_notes():
    c = mel_row_centres(128, 0.0, 8000.0)
    assert np.flatnonzero(c >= 1000)[0] == 42
    assert np.flatnonzero(c >= 2000)[0] == 71
    assert np.flatnonzero(c >= 4000)[0] == 100
    assert band_rows([(0, 2000), (2000, 8000)], n_mels=128, fmin=0, fmax=8000) == [(0, 71),
                                                                                (71, 128)]


def test_views_whole_low_high(small_logmel):
    S, _ = small_logmel
    tr = FrequencyMaskTransformer(1000.0, **SMALL_MASK)
    V = tr.fit_transform(S)
    (lo0, lo1), (hi0, hi1) = tr.ranges_
    assert V.shape == (S.shape[0], 3) + S.shape[1:]
    assert (lo0, hi1) == (0, 32) and lo1 == hi0
    np.testing.assert_array_equal(V[:, 0], S)
    np.testing.assert_array_equal(V[:, 1, :lo1], S[:, :lo1])
    np.testing.assert_array_equal(V[:, 2, hi0:], S[:, hi0:])
    # default fill="nan": masked cells are missing (the classifier reads the training mean)
    assert np.isnan(V[:, 1, hi0:]).all() and np.isnan(V[:, 2, :lo1]).all()
    assert not np.isnan(V[:, 1, :lo1]).any() and not np.isnan(V[:, 2, hi0:]).any()
    Vmin = FrequencyMaskTransformer(1000.0, fill="min", **SMALL_MASK).fit_transform(S)
    floor = S.reshape(len(S), -1).min(axis=1)
    assert np.all(Vmin[:, 1, hi0:] == floor[:, None, None])
    assert np.all(Vmin[:, 2, :lo1] == floor[:, None, None])


def test_band_metadata_is_computed_once_in_fit(small_logmel):
    S, _ = small_logmel
    tr = FrequencyMaskTransformer(1000.0, **SMALL_MASK).fit(S)
    (lo0, lo1), (hi0, hi1) = tr.ranges_
    n_frames = S.shape[2]
    assert tr.view_names_ == ["whole", "low", "high"]
    assert tr.bands_hz_ == [(0.0, 1000.0), (1000.0, 4000.0)]
    assert tr.view_windows_ == [(0, 32, 0, n_frames), (lo0, lo1, 0, n_frames),
                                (hi0, hi1, 0, n_frames)]
    T = FrequencyMaskTransformer(axis="time", **SMALL_MASK).fit(S)
    half = n_frames // 2
    assert T.bands_hz_ is None and T.view_names_ == ["whole", "first half", "second half"]
    assert T.view_windows_[1:] == [(0, 32, 0, half), (0, 32, half, n_frames)]
    # other clip lengths: the time halves follow the input
    assert T.transform(S[:, :, :10]).shape == (len(S), 3, 32, 10)


def test_fill_value_and_bands_and_time_axis(small_logmel):
    S, _ = small_logmel
    V = FrequencyMaskTransformer(bands=[(0, 500), (500, 1500), (1500, 4000)], fill=-100.0,
                                 **SMALL_MASK).fit_transform(S)
    assert V.shape[1] == 4
    assert (V[:, 1:] == -100.0).any()
    T = FrequencyMaskTransformer(axis="time", **SMALL_MASK).fit_transform(S)
    half = S.shape[2] // 2
    np.testing.assert_array_equal(T[:, 1, :, :half], S[:, :, :half])
    np.testing.assert_array_equal(T[:, 2, :, half:], S[:, :, half:])
    assert not np.array_equal(T[:, 1, :, half:], S[:, :, half:])


@pytest.mark.parametrize(
    "kwargs,match",
    [
        (dict(split_hz=0.0), r"split_hz=0.0 must lie strictly inside \[fmin, fmax\]"),
        (dict(split_hz=9000.0), r"split_hz=9000.0 must lie strictly inside"),
        (dict(bands=[(0, 2000), (1000, 4000)]), "overlap"),
        (dict(bands=[(1000, 1010), (2000, 4000)]), "holds no mel row"),
        (dict(bands=[(3000, 2000)]), "fmin <= low < high <= fmax"),
        (dict(bands=[(0, 2000), (2000, 9000)]), "fmin <= low < high <= fmax"),
    ],
)
def test_mask_bad_bands(small_logmel, kwargs, match):
    S, _ = small_logmel
    with pytest.raises(ValueError, match=match):
        FrequencyMaskTransformer(**{**SMALL_MASK, **kwargs}).fit_transform(S)


def test_mask_rejects_wrong_n_mels_and_nan(small_logmel):
    S, _ = small_logmel
    with pytest.raises(ValueError, match="32 mel rows but n_mels=128"):
        FrequencyMaskTransformer().fit(S)
    bad = S.copy()
    bad[3, 0, 0] = np.nan
    with pytest.raises(ValueError, match="NaN or infinity in 1 clip.*index 3"):
        FrequencyMaskTransformer(**SMALL_MASK).transform(bad)
    with pytest.raises(ValueError, match="must be 3-D"):
        FrequencyMaskTransformer(**SMALL_MASK).transform(S[0])


# --------------------------------- our own checks where sklearn's skip 3-D input
@pytest.mark.parametrize(
    "est", [LogMelTransformer(**SMALL_LOGMEL), FrequencyMaskTransformer(1000.0, **SMALL_MASK)]
)
def test_own_checks_for_3d_io(est, sounds, small_logmel):
    X = sounds[0] if isinstance(est, LogMelTransformer) else small_logmel[0]
    c = clone(est)
    assert c.get_params() == est.get_params()
    c.set_params(**est.get_params())
    out = c.fit(X).transform(X)
    # stateless: transform works without fit, and gives the same output
    np.testing.assert_array_equal(clone(est).transform(X), out)
    # pickling round trip
    np.testing.assert_array_equal(pickle.loads(pickle.dumps(c)).transform(X), out)
    # subset and order invariance
    np.testing.assert_array_equal(c.transform(X[5:9]), out[5:9])
    np.testing.assert_array_equal(c.transform(X[::-1]), out[::-1])
    # fit twice gives the same
    np.testing.assert_array_equal(c.fit(X).transform(X), out)


@pytest.mark.parametrize("fmin,htk", [(0.0, False), (300.0, False), (0.0, True), (300.0, True)])
def test_band_rows_follow_the_mel_centres(fmin, htk):
    """Each row's centre lies inside its band, for fmin > 0 and the HTK scale too."""
    centres = mel_row_centres(32, fmin, 4000.0, htk)
    np.testing.assert_allclose(centres, librosa.mel_frequencies(34, fmin=fmin, fmax=4000.0,
                                                                htk=htk)[1:-1])
    (a0, a1), (b0, b1) = band_rows([(fmin, 1000.0), (1000.0, 4000.0)], n_mels=32, fmin=fmin,
                                   fmax=4000.0, htk=htk)
    assert (a0, b1) == (0, 32) and a1 == b0
    assert centres[a1 - 1] < 1000.0 <= centres[b0]


@pytest.mark.parametrize("fmin,htk", [(0.0, False), (300.0, True)])
@pytest.mark.parametrize("tone_hz", [600.0, 2500.0])
def test_a_pure_tone_lands_in_its_band(fmin, htk, tone_hz):
    sr = 8000
    t = np.arange(sr // 2) / sr
    clip = np.sin(2 * np.pi * tone_hz * t).astype(np.float32)[None]
    kw = dict(sr=sr, n_mels=32, fmin=fmin, fmax=4000.0)
    S = LogMelTransformer(**kw, n_fft=256, hop_length=128, duration=0.5, htk=htk).transform(clip)
    masks = FrequencyMaskTransformer(1000.0, htk=htk, fill="min", **kw).fit(S)
    V = masks.transform(S)
    peak_row = int(S[0].mean(axis=1).argmax())
    low, high = masks.ranges_
    inside = low if tone_hz < 1000 else high
    assert inside[0] <= peak_row < inside[1]
    # the band view holding the tone keeps it; the other view is all floor there
    v_in, v_out = (1, 2) if tone_hz < 1000 else (2, 1)
    np.testing.assert_array_equal(V[0, v_in, peak_row], S[0, peak_row])
    assert np.all(V[0, v_out, peak_row] == S[0].min())


# ------------------------------------------------------------------------- set_output
def test_set_output_default_is_a_no_op_in_a_pipeline(rng):
    from sklearn.pipeline import Pipeline

    from sklearn_hallu import HalluAudioClassifier

    pipe = Pipeline([("logmel", LogMelTransformer(**SMALL_LOGMEL)),
                     ("masks", FrequencyMaskTransformer(1000.0, **SMALL_MASK)),
                     ("clf", HalluAudioClassifier())])
    assert pipe.set_output(transform="default") is pipe
    assert pipe.set_output(transform=None) is pipe
    X = rng.normal(size=(2, 4000)).astype(np.float32)
    S = pipe[0].fit_transform(X)
    np.testing.assert_array_equal(S, LogMelTransformer(**SMALL_LOGMEL).fit_transform(X))
    assert pipe[1].fit_transform(S).shape == (2, 3, 32, 32)


@pytest.mark.parametrize("container", ["pandas", "polars"])
@pytest.mark.parametrize("est, shape", [
    (LogMelTransformer(), r"\(n_clips, n_mels, n_frames\)"),
    (FrequencyMaskTransformer(), r"\(n_clips, n_views, n_mels, n_frames\)"),
])
def test_set_output_dataframe_is_refused_with_the_reason(est, shape, container):
    from sklearn.pipeline import make_pipeline

    name = type(est).__name__
    msg = (rf"{name} cannot output a {container} DataFrame \(got set_output\(transform="
           rf"'{container}'\)\): its output is an array of shape {shape}.*"
           r"set_output\(transform='default'\)")
    with pytest.raises(ValueError, match=msg):
        est.set_output(transform=container)
    with pytest.raises(ValueError, match=msg):  # also through a Pipeline
        make_pipeline(clone(est)).set_output(transform=container)
    with pytest.raises(ValueError, match=rf"{name}.set_output got transform='frame'"):
        est.set_output(transform="frame")
