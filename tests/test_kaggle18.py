"""FSDKaggle2018: the loader on a tiny copy laid out as Zenodo ships it, the curation, the split.

The fixture writes a few synthetic clips under the dataset's real names
(``FSDKaggle2018.meta/train_post_competition.csv``, ``FSDKaggle2018.audio_train/``...):
variable lengths, one clip shorter than 2 s, one at 44.1 kHz, unverified labels, and
(in ``with_missing``) a CSV row whose file is absent. No test touches the network.
"""

import csv

import numpy as np
import pytest

from sklearn_hallu.datasets import (
    KAGGLE18_CLASS_NAMES,
    KAGGLE18_CLASS_SPLIT,
    KAGGLE18_ENV,
    crop_around_peak,
    curate_kaggle18,
    fetch_kaggle18,
    kaggle18_class_split,
)
from sklearn_hallu.exceptions import DataNotFoundError

SR = 16000
# fname: (label, manually_verified, seconds, sample rate, peak position as a fraction)
TRAIN = {
    "00a1.wav": ("Bark", "1", 3.0, SR, 0.5),
    "00a2.wav": ("Bark", "1", 0.5, SR, 0.2),   # shorter than 2 s: padded
    "00a3.wav": ("Bark", "0", 5.0, 44100, 0.9),  # resampled, peak near the end
    "00b1.wav": ("Meow", "1", 2.5, SR, 0.05),  # peak near the start
    "00b2.wav": ("Meow", "0", 4.0, SR, 0.5),
    "00b3.wav": ("Meow", "1", 1.2, SR, 0.7),
    "00c1.wav": ("Cello", "1", 2.0, SR, 0.5),
    "00c2.wav": ("Cello", "0", 6.0, SR, 0.3),
    "00c3.wav": ("Cello", "1", 3.5, SR, 0.6),
    "00c4.wav": ("Cello", "0", 2.2, SR, 0.4),
}
TEST = {
    "t001.wav": ("Bark", "Public", 2.8, SR, 0.5),
    "t002.wav": ("Cello", "Private", 1.5, SR, 0.5),
    "t003.wav": ("Meow", "Public", 3.1, SR, 0.5),
}
MISSING = "0dead.wav"  # listed in the train CSV, no file


def _clip(seconds, sr, peak_at, seed):
    n = int(round(seconds * sr))
    y = 0.02 * np.random.default_rng(seed).standard_normal(n).astype(np.float32)
    p = min(max(int(peak_at * n), 30), n - 30)
    k = max(2, sr // 2000)  # a triangular pulse of 1 ms each side: survives resampling
    y[p - k:p + k + 1] = 0.9 * (1 - np.abs(np.arange(-k, k + 1)) / k)
    return y, p


def _write_csv(path, columns, rows):
    with open(path, "w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(columns)
        w.writerows(rows)


def _make_dataset(root, *, with_missing=False, parts=("meta", "train", "test")):
    import soundfile as sf

    meta = root / "FSDKaggle2018.meta"
    meta.mkdir(parents=True, exist_ok=True)
    train_rows = [(f, lab, v, 1000 + i, "Creative Commons 0")
                  for i, (f, (lab, v, *_)) in enumerate(TRAIN.items())]
    if with_missing:
        train_rows.append((MISSING, "Meow", "1", 999, "Attribution"))
    _write_csv(meta / "train_post_competition.csv",
               ["fname", "label", "manually_verified", "freesound_id", "license"], train_rows)
    _write_csv(meta / "test_post_competition_scoring_clips.csv",
               ["fname", "label", "usage", "freesound_id", "license"],
               [(f, lab, u, 2000 + i, "Attribution") for i, (f, (lab, u, *_)) in
                enumerate(TEST.items())])
    for part, table in (("train", TRAIN), ("test", TEST)):
        if part not in parts:
            continue
        folder = root / f"FSDKaggle2018.audio_{part}"
        folder.mkdir(exist_ok=True)
        for i, (f, (_, _, sec, sr, at)) in enumerate(table.items()):
            sf.write(folder / f, _clip(sec, sr, at, i)[0], sr, subtype="PCM_16")
    return root


@pytest.fixture
def isolated(tmp_path, monkeypatch):
    """No copy of the dataset anywhere but where a test puts one."""
    monkeypatch.delenv(KAGGLE18_ENV, raising=False)
    monkeypatch.setenv("SKLEARN_HALLU_DATA", str(tmp_path / "home"))
    return tmp_path


@pytest.fixture
def kroot(isolated):
    return _make_dataset(isolated / "FSDKaggle2018")


# ------------------------------------------------------------------ loader
def test_layout_and_columns(kroot):
    b = fetch_kaggle18(kroot.parent, subset="all", download_if_missing=False)
    assert len(b.data) == len(TRAIN) + len(TEST)
    assert b.root == str(kroot)
    assert list(b.subset).count("test") == len(TEST)
    assert all(f.startswith(str(kroot / "FSDKaggle2018.audio_")) for f in b.filenames)
    assert [b.target_names[t] for t in b.target] == list(b.label)
    assert set(b.usage[b.subset == "test"]) == {"Public", "Private"}
    assert b.freesound_id.dtype == np.int64 and b.freesound_id[0] == 1000
    tr = fetch_kaggle18(kroot, download_if_missing=False)  # subset="train", the folder itself
    assert len(tr.data) == len(TRAIN) and set(tr.subset) == {"train"}
    X, y = fetch_kaggle18(kroot, subset="test", download_if_missing=False, return_X_y=True)
    assert [KAGGLE18_CLASS_NAMES[t] for t in y] == [v[0] for v in TEST.values()]


def test_manually_verified_flag_filters(kroot):
    n_ver = sum(v[1] == "1" for v in TRAIN.values())
    b = fetch_kaggle18(kroot, subset="all", download_if_missing=False)
    assert b.manually_verified.sum() == n_ver + len(TEST)  # test labels count as verified
    ver = fetch_kaggle18(kroot, subset="train", manually_verified=True, download_if_missing=False)
    assert len(ver.data) == n_ver and ver.manually_verified.all()
    unv = fetch_kaggle18(kroot, subset="all", manually_verified=False, download_if_missing=False)
    assert len(unv.data) == len(TRAIN) - n_ver and not unv.manually_verified.any()
    assert set(unv.subset) == {"train"}


def test_load_audio_resamples_variable_lengths(kroot):
    b = fetch_kaggle18(kroot, load_audio=True, download_if_missing=False)
    assert b.sr == SR
    for y, f in zip(b.data, b.filenames):
        _, _, sec, _, _ = TRAIN[f.rsplit("/", 1)[-1]]
        assert y.dtype == np.float32 and y.ndim == 1
        assert abs(y.size - sec * SR) <= 1  # 44.1 kHz clip resampled too


def test_missing_file_raises_by_default_and_warn_drops(isolated):
    root = _make_dataset(isolated / "FSDKaggle2018", with_missing=True)
    with pytest.raises(DataNotFoundError, match=rf"1 of {len(TRAIN) + 1} clips .*{MISSING}"):
        fetch_kaggle18(root, download_if_missing=False)
    with pytest.warns(UserWarning, match=rf"1 of .*{MISSING}.*dropped"):
        b = fetch_kaggle18(root, download_if_missing=False, on_missing="warn")
    assert len(b.data) == len(TRAIN) and not any(f.endswith(MISSING) for f in b.filenames)


def test_nothing_there_and_no_download_says_what_to_fetch(isolated):
    with pytest.raises(DataNotFoundError) as err:
        fetch_kaggle18(isolated / "nothing", subset="all", download_if_missing=False)
    msg = str(err.value)
    for part in ("FSDKaggle2018.meta.zip", "FSDKaggle2018.audio_train.zip",
                 "FSDKaggle2018.audio_test.zip", "zenodo.org/records/2552860",
                 "FSDKaggle2018.meta/train_post_competition.csv", KAGGLE18_ENV, "data_home"):
        assert part in msg


def test_partial_copy_names_only_the_missing_archive(isolated):
    root = _make_dataset(isolated / "FSDKaggle2018", parts=("meta", "train"))
    assert len(fetch_kaggle18(root, download_if_missing=False).data) == len(TRAIN)
    with pytest.raises(DataNotFoundError,
                       match="missing the content of FSDKaggle2018.audio_test.zip"):
        fetch_kaggle18(root, subset="test", download_if_missing=False)


def test_failed_download_says_what_to_do(isolated, monkeypatch):
    import pooch

    def offline(*args, **kwargs):
        raise ConnectionError("network unreachable")

    monkeypatch.setattr(pooch, "retrieve", offline)
    with pytest.raises(DataNotFoundError, match="could not be downloaded.*network unreachable"
                       ".*FSDKaggle2018.audio_train/\\*.wav"):
        fetch_kaggle18(isolated / "nothing")


def test_download_fetches_the_zenodo_archives_with_their_md5(isolated, monkeypatch):
    import pooch

    calls = []

    def fake_retrieve(url, known_hash, fname, path, processor, progressbar):
        calls.append((url, known_hash, fname))
        if fname == "FSDKaggle2018.meta.zip":  # "download and unzip" the whole tiny copy
            _make_dataset(path)

    monkeypatch.setattr(pooch, "retrieve", fake_retrieve)
    b = fetch_kaggle18(isolated / "dl", subset="all")
    assert b.root == str(isolated / "dl" / "FSDKaggle2018") and len(b.data) == 13
    assert [c[2] for c in calls] == ["FSDKaggle2018.meta.zip", "FSDKaggle2018.audio_train.zip",
                                     "FSDKaggle2018.audio_test.zip"]
    assert calls[0][0] == ("https://zenodo.org/records/2552860/files/"
                           "FSDKaggle2018.meta.zip?download=1")
    assert all(c[1].startswith("md5:") and len(c[1]) == 36 for c in calls)


def test_env_variable_and_bad_csv(kroot, monkeypatch):
    monkeypatch.setenv(KAGGLE18_ENV, str(kroot))
    assert len(fetch_kaggle18(download_if_missing=False).data) == len(TRAIN)
    csv_path = kroot / "FSDKaggle2018.meta" / "train_post_competition.csv"
    csv_path.write_text("fname,label\n00a1.wav,Bark\n")
    with pytest.raises(ValueError, match="lacks the column.*manually_verified"):
        fetch_kaggle18(download_if_missing=False)
    csv_path.write_text("fname,label,manually_verified,freesound_id,license\n"
                        "00a1.wav,Dog,1,1,CC0\n")
    with pytest.raises(ValueError, match="not FSDKaggle2018's 41 classes.*Dog"):
        fetch_kaggle18(download_if_missing=False)
    with pytest.raises(ValueError, match="subset must be one of.*'validation'"):
        fetch_kaggle18(subset="validation")


# ---------------------------------------------------------------- curation
@pytest.mark.parametrize("n, peak, start", [
    (10000, 5000, 0), (10000, 12000, 7000), (10000, 100, 0), (10000, 19990, 10000)])
def test_crop_around_peak_keeps_the_window_around_the_peak(n, peak, start):
    y = np.linspace(-0.1, 0.1, 20000, dtype=np.float32)
    y[peak] = -1.0  # the largest absolute value, negative
    out, where = crop_around_peak(y, n, return_peak=True)
    np.testing.assert_array_equal(out, y[start:start + n])
    assert where == peak - start and out[where] == -1.0


def test_crop_around_peak_pads_short_clips_around_with_zeros():
    y = np.full(300, 0.1, dtype=np.float32)
    y[100] = 0.8
    out, where = crop_around_peak(y, 1000, return_peak=True)
    assert where == 500 and out[500] == np.float32(0.8)
    np.testing.assert_array_equal(out[400:700], y)  # whole, unstretched
    assert not out[:400].any() and not out[700:].any()
    y = np.full(900, 0.1, dtype=np.float32)  # longer than half the window
    for peak, expected in ((850, 850), (10, 110)):  # cannot be centred: clip kept whole
        y[:] = 0.1
        y[peak] = 0.8
        out, where = crop_around_peak(y, 1000, return_peak=True)
        assert where == expected and out[where] == np.float32(0.8)
        np.testing.assert_array_equal(out[where - peak:where - peak + 900], y)
    with pytest.raises(ValueError, match="non-empty 1-D"):
        crop_around_peak(np.zeros((2, 10)), 5)
    with pytest.raises(ValueError, match="n_samples must be a positive integer"):
        crop_around_peak(y, 0)


def test_curation_balances_cuts_and_pads(kroot):
    b = fetch_kaggle18(kroot, subset="all", download_if_missing=False)
    cur = curate_kaggle18(b)
    counts = np.bincount(b.target)
    n_min = counts[counts > 0].min()
    assert cur.n_per_class == n_min
    assert cur.data.shape == (3 * n_min, 32000) and cur.data.dtype == np.float32
    assert set(np.bincount(cur.target)[np.unique(cur.target)]) == {n_min}
    rows = np.arange(len(cur.data))
    np.testing.assert_allclose(np.abs(cur.data[rows, cur.peak]), 0.9, atol=0.03)  # peak kept
    np.testing.assert_array_equal(np.abs(cur.data).argmax(axis=1), cur.peak)
    for i, f in enumerate(cur.filenames):  # 16 kHz clips: the exact window around the peak
        label, _, sec, sr, at = {**TRAIN, **TEST}[f.rsplit("/", 1)[-1]]
        if sr == SR and sec >= 2:
            y, p = _clip(sec, sr, at, 0)
            start = min(max(p - 16000, 0), y.size - 32000)
            assert cur.peak[i] == p - start and label == KAGGLE18_CLASS_NAMES[cur.target[i]]
    i = [k for k, f in enumerate(cur.filenames) if f.endswith("00a2.wav")][0]
    row = cur.data[i]  # 0.5 s, peak at 1600: placed at 14400, the peak centred, zeros around
    assert cur.peak[i] == 16000
    assert not row[:14400].any() and not row[22400:].any()
    assert np.count_nonzero(row[14400:22400]) > 7900
    three = curate_kaggle18(b, n_per_class=3)  # Bark has 3 verified clips of 4
    assert not any(f.endswith("00a3.wav") for f in three.filenames)
    assert three.manually_verified.all()


def test_curation_is_deterministic_given_random_state(kroot):
    b = fetch_kaggle18(kroot, subset="all", download_if_missing=False)
    a1 = curate_kaggle18(b, n_per_class=2, random_state=3, prefer_verified=False)
    a2 = curate_kaggle18(b, n_per_class=2, random_state=3, prefer_verified=False)
    np.testing.assert_array_equal(a1.data, a2.data)
    assert list(a1.filenames) == list(a2.filenames)
    picks = {tuple(curate_kaggle18(b, n_per_class=2, random_state=s,
                                   prefer_verified=False).filenames) for s in range(8)}
    assert len(picks) > 1  # the seed matters
    with pytest.raises(ValueError, match=r"n_per_class=9 but 3 classes.*n_per_class<=4"):
        curate_kaggle18(b, n_per_class=9)


def test_curation_uses_loaded_waveforms_and_feeds_160_frames(kroot):
    from sklearn_hallu import LogMelTransformer

    paths = fetch_kaggle18(kroot, subset="all", download_if_missing=False)
    waves = fetch_kaggle18(kroot, subset="all", download_if_missing=False, load_audio=True)
    a, w = curate_kaggle18(paths), curate_kaggle18(waves)
    np.testing.assert_array_equal(a.data, w.data)
    S = LogMelTransformer(hop_length=201, duration=2.0).fit_transform(a.data[:2])
    assert S.shape == (2, 128, 160)


# -------------------------------------------------------------- class split
def test_class_split_is_disjoint_sized_and_named():
    split = kaggle18_class_split()
    assert [len(split[k]) for k in ("train", "validation", "test")] == [26, 5, 10]
    assert sorted(sum(split.values(), [])) == list(range(41))
    for part, ids in split.items():
        assert tuple(KAGGLE18_CLASS_NAMES[i] for i in ids) == KAGGLE18_CLASS_SPLIT[part]
    assert len(KAGGLE18_CLASS_NAMES) == 41 and sorted(KAGGLE18_CLASS_NAMES) == list(
        KAGGLE18_CLASS_NAMES)
    assert kaggle18_class_split(1) != split and kaggle18_class_split(0) == split


def test_bunches_carry_the_split(kroot):
    b = fetch_kaggle18(kroot, download_if_missing=False)
    assert b.class_split == kaggle18_class_split()
    assert b.class_split_names["test"] == list(KAGGLE18_CLASS_SPLIT["test"])
    assert curate_kaggle18(b).class_split == b.class_split
