import numpy as np
import pytest

from sklearn_hallu import LogMelTransformer
from sklearn_hallu.datasets import ESC50_CLASS_NAMES, esc50_class_split, fetch_esc50, make_sounds
from sklearn_hallu.exceptions import DataNotFoundError

from .conftest import assert_matches_reference, librosa_reference

PAPER_SPLIT = {
    "validation": {"crackling_fire", "clock_alarm", "coughing", "hen", "breathing"},
    "test": {"vacuum_cleaner", "sneezing", "thunderstorm", "crow", "glass_breaking",
             "church_bells", "cow", "dog", "airplane", "engine"},
}


def test_make_sounds_is_seeded_and_balanced():
    X, y = make_sounds(n_classes=4, n_per_class=3, sr=8000, duration=0.25, random_state=3)
    X2, _ = make_sounds(n_classes=4, n_per_class=3, sr=8000, duration=0.25, random_state=3)
    assert X.shape == (12, 2000) and np.bincount(y).tolist() == [3, 3, 3, 3]
    np.testing.assert_array_equal(X, X2)
    with pytest.raises(ValueError, match="n_classes and n_per_class"):
        make_sounds(n_classes=0)


def test_class_split_sizes():
    split = esc50_class_split()
    assert [len(split[k]) for k in ("train", "validation", "test")] == [35, 5, 10]
    assert len(set(sum(split.values(), []))) == 50


def test_missing_data_says_what_to_do(tmp_path, monkeypatch):
    monkeypatch.delenv("SKLEARN_HALLU_ESC50", raising=False)
    monkeypatch.setenv("SKLEARN_HALLU_DATA", str(tmp_path / "home"))
    with pytest.raises(DataNotFoundError, match="SKLEARN_HALLU_ESC50"):
        fetch_esc50(tmp_path / "nothing", download_if_missing=False)


def test_failed_download_says_what_to_do(tmp_path, monkeypatch):
    import pooch

    def offline(*args, **kwargs):
        raise ConnectionError("network unreachable")

    monkeypatch.setattr(pooch, "retrieve", offline)
    monkeypatch.delenv("SKLEARN_HALLU_ESC50", raising=False)
    monkeypatch.setenv("SKLEARN_HALLU_DATA", str(tmp_path / "home"))
    with pytest.raises(DataNotFoundError, match="could not be downloaded.*data_home"):
        fetch_esc50(tmp_path / "nothing")


# ------------------------------------------------------------- real ESC-50
@pytest.mark.esc50
def test_fetch_esc50_real(esc50_root):
    b = fetch_esc50(esc50_root)
    assert len(b.data) == 2000 and np.bincount(b.target).tolist() == [40] * 50
    assert set(b.fold) == {1, 2, 3, 4, 5}
    for part, names in PAPER_SPLIT.items():
        assert set(b.class_split_names[part]) == names
    assert len(b.class_split_names["train"]) == 35
    assert list(b.target_names) == list(ESC50_CLASS_NAMES)
    X, y = fetch_esc50(esc50_root, return_X_y=True, subset="test")
    assert len(X) == 400 and set(np.unique(y)) == set(b.class_split["test"])


@pytest.mark.esc50
def test_fetch_esc50_env_variable(esc50_root, monkeypatch):
    monkeypatch.setenv("SKLEARN_HALLU_ESC50", str(esc50_root))
    assert len(fetch_esc50(download_if_missing=False).target) == 2000


@pytest.mark.esc50
def test_logmel_on_real_clips(esc50_root):
    import soundfile as sf

    b = fetch_esc50(esc50_root)
    files = list(b.data[::50])
    refs = []
    for f in files:
        clip, sr = sf.read(f, dtype="float32")
        assert sr == 16000
        refs.append(librosa_reference(clip))
    for dtype in ("float32", "float64"):
        S = LogMelTransformer(dtype=dtype).transform(files)
        assert S.shape == (len(files), 128, 160) and np.isfinite(S).all()
        assert_matches_reference(S, np.stack(refs), dtype)
    W = fetch_esc50(esc50_root, load_audio=True, subset="validation")
    assert W.data.shape == (200, 80000)


def test_edited_metadata_is_refused(tmp_path):
    """meta/esc50.csv is md5-checked: class ids and folds depend on it."""
    (tmp_path / "meta").mkdir()
    (tmp_path / "meta" / "esc50.csv").write_text(
        "filename,fold,target,category,esc10,src_file,take\n1-100032-A-0.wav,1,0,dog,True,100032,A\n"
    )
    with pytest.raises(ValueError, match="differs from the published ESC-50 metadata"):
        fetch_esc50(tmp_path, download_if_missing=False)


@pytest.mark.esc50
def test_original_layout_44k_wav_is_resampled(esc50_root, tmp_path, monkeypatch):
    """The archive's own layout, ESC-50-master/{audio/*.wav at 44.1 kHz, meta/esc50.csv}.

    Built here: the published metadata (md5-checked by the loader, so copied from
    the real copy) and 2000 short 16-bit WAV tones at 44.1 kHz, one frequency per class.
    """
    import csv
    import io
    import shutil

    import soundfile as sf

    monkeypatch.delenv("SKLEARN_HALLU_ESC50", raising=False)
    root = tmp_path / "ESC-50-master"
    (root / "meta").mkdir(parents=True)
    (root / "audio").mkdir()
    shutil.copy(esc50_root / "meta" / "esc50.csv", root / "meta" / "esc50.csv")
    t = np.arange(4410) / 44100  # 0.1 s
    wavs = []  # one encoded file per class, written under each of its clips' names
    for c in range(50):
        buf = io.BytesIO()
        sf.write(buf, 0.5 * np.sin(2 * np.pi * (300 + 40 * c) * t), 44100, format="WAV",
                 subtype="PCM_16")
        wavs.append(buf.getvalue())
    with open(root / "meta" / "esc50.csv", newline="") as fh:
        for row in csv.DictReader(fh):
            (root / "audio" / row["filename"]).write_bytes(wavs[int(row["target"])])
    b = fetch_esc50(tmp_path, download_if_missing=False)
    assert b.root == str(root) and len(b.filenames) == 2000
    assert all(f.endswith(".wav") for f in b.filenames)
    assert sf.info(b.filenames[0]).samplerate == 44100
    W, target = fetch_esc50(tmp_path, download_if_missing=False, load_audio=True,
                            subset="validation", return_X_y=True)
    assert W.shape == (200, 80000)  # 5 s at 16 kHz (the 0.1 s tones padded)
    for clip, c in zip(W[::40], target[::40]):
        assert np.flatnonzero(np.abs(clip) > 1e-2)[-1] in range(1590, 1600)  # 0.1 s at 16 kHz
        peak_hz = np.argmax(np.abs(np.fft.rfft(clip[:1600]))) * 16000 / 1600
        assert abs(peak_hz - (300 + 40 * c)) <= 10
