"""``reproduce --dataset kaggle18``: end to end at a tiny budget on a synthetic FSDKaggle2018.

The copy is written by tests/test_kaggle18.py's fixture builder (the dataset's real
folder, file and column names) with 12 short clips of each of the 41 classes, the
clips ``--quick`` keeps. No test touches the network.
"""

import json
from pathlib import Path

import numpy as np
import pytest

from research.reproduce import cli as reproduce
from research.reproduce.paper import PAPER_TABLES_KAGGLE18, SETTING_NAMES
from research.reproduce.run import _config
from sklearn_hallu.datasets import KAGGLE18_CLASS_NAMES, KAGGLE18_ENV, kaggle18_class_split
from sklearn_hallu.exceptions import DataNotFoundError

from .. import test_kaggle18 as fixture

SR = fixture.SR
# per class: 10 clips in the training CSV, 2 in the test CSV; lengths around 2 s (cut or
# padded by the curation), peaks here and there, half the training labels unverified. The
# classes are noise alike (only the harness is checked): the i-th clips of all classes share
# length and peak, so accuracies may fall below chance.
LENGTHS = (0.4, 2.3, 1.1, 0.7)


def _tables():
    train, test = {}, {}
    for c, label in enumerate(KAGGLE18_CLASS_NAMES):
        for i in range(10):
            train[f"{c:02d}tr{i}.wav"] = (label, "01"[i % 2], LENGTHS[i % 4], SR,
                                          0.2 + 0.06 * i)
        for i in range(2):
            test[f"{c:02d}te{i}.wav"] = (label, "Public", LENGTHS[i], SR, 0.5)
    return train, test


@pytest.fixture
def isolated(tmp_path, monkeypatch):
    """No copy of the dataset anywhere but where a test puts one, and no network."""
    import pooch

    def offline(*args, **kwargs):
        raise ConnectionError("network unreachable (test)")

    monkeypatch.delenv(KAGGLE18_ENV, raising=False)
    monkeypatch.setenv("SKLEARN_HALLU_DATA", str(tmp_path / "home"))
    monkeypatch.setattr(pooch, "retrieve", offline)
    return tmp_path


@pytest.fixture
def kaggle_root(isolated, monkeypatch):
    train, test = _tables()
    monkeypatch.setattr(fixture, "TRAIN", train)
    monkeypatch.setattr(fixture, "TEST", test)
    return fixture._make_dataset(isolated / "FSDKaggle2018")


def test_reproduce_kaggle18_quick_end_to_end(kaggle_root, tmp_path):
    out = tmp_path / "rep"
    cache = tmp_path / "k18.npz"
    reproduce.main(["--quick", "--dataset", "kaggle18", "--data-home", str(kaggle_root),
                    "--out", str(out), "--device", "cpu", "--features-cache", str(cache)])
    res = json.loads((out / "results.json").read_text())
    assert res["dataset"] == "kaggle18" and res["quick"]
    assert set(res["models"]) == {"baseline", "halluaudio", "time_concept"}
    for entry in res["models"].values():
        assert set(entry["mean"]) == set(SETTING_NAMES)
        assert all(0 <= v["accuracy"] <= 100 for v in entry["mean"].values())
    cfg = res["config"]
    assert cfg["dataset"] == "kaggle18"
    assert cfg["curation"] == {"n_per_class": 12, "duration": 2.0, "sr": 16000,
                               "prefer_verified": True, "random_state": 0}
    assert (cfg["logmel"]["hop_length"], cfg["logmel"]["duration"]) == (201, 2.0)
    assert (cfg["n_mels"], cfg["n_frames"]) == (128, 160)
    split = kaggle18_class_split()
    assert cfg["val_classes"] == split["validation"]
    # tested on the 10 test classes, 12 clips each; importance named by Kaggle18's classes
    test = res["models"]["baseline"]["per_seed"][0]["test"]["5-way 1-shot"]
    assert len(test["per_clip"]) == 120
    assert {int(c) for c in test["per_class"]} == set(split["test"])
    fi = res["models"]["halluaudio"]["per_seed"][0]["frequency_importance"]
    assert set(fi) == {KAGGLE18_CLASS_NAMES[c] for c in split["test"]}
    assert res["paper"]["baseline"]["5-way 1-shot"] == [57.58, 0.63]
    md = (out / "results.md").read_text()
    assert md.startswith("# HalluAudio on Kaggle18 (FSDKaggle2018, curated: 12 clips per "
                         "class, 2 s around each clip's peak at 16000 Hz")
    assert "QUICK RUN" in md and "the paper gives neither its clip length" in md
    for kind, title in (("baseline", "Baseline (prototypical net)"),
                        ("halluaudio", "HalluAudio"), ("time_concept", "Time concept")):
        p, ci = PAPER_TABLES_KAGGLE18[kind]["10-way 5-shot"]
        assert f"| {title}" in md and f"| {p:.2f} ± {ci:.2f} |" in md
    assert "| 57.58 ± 0.63 |" in md and "(+1.77)" in md and "(+3.68)" in md  # gains
    # the report redraws from results.json alone, Kaggle18's still
    assert reproduce.main(["--stage", "report", "--out", str(out)]) == 0
    assert "| 57.58 ± 0.63 |" in (out / "results.md").read_text()
    # the features cache holds the curated clips' log-mel (with the curation in its key)
    z = np.load(cache)
    assert z["X"].shape == (41 * 12, 128, 160) and "kaggle18" in str(z["key"])


def test_missing_kaggle18_says_what_to_fetch(isolated):
    with pytest.raises(DataNotFoundError) as err:
        reproduce.main(["--quick", "--dataset", "kaggle18", "--data-home",
                        str(isolated / "nothing"), "--out", str(isolated / "rep"),
                        "--device", "cpu"])
    msg = str(err.value)
    for part in ("could not be downloaded", "network unreachable (test)",
                 "zenodo.org/records/2552860", "FSDKaggle2018.audio_train/*.wav", KAGGLE18_ENV,
                 "From a research command: --data-home DIR."):
        assert part in msg


def _cfg(*argv):
    return _config(reproduce.build_parser().parse_args([*argv, "--device", "cpu"]))


def test_each_dataset_has_its_paper_recipe_by_default():
    cfg = _cfg("--dataset", "kaggle18")
    assert (cfg["recipe"], cfg["epochs"], cfg["episodes"], cfg["lr_step"]) == (
        "paper_kaggle18", 60, None, 30)
    cfg = _cfg()  # ESC-50: unchanged
    assert (cfg["recipe"], cfg["epochs"], cfg["episodes"], cfg["lr_step"]) == (
        "long", 63, 30, 21)
    cfg = _cfg("--dataset", "kaggle18", "--recipe", "cpu", "--epochs", "5")
    assert (cfg["recipe"], cfg["epochs"], cfg["lr_step"]) == ("cpu", 5, 7)
    assert "paper_kaggle18" in reproduce.build_parser().format_help()


def test_an_esc50_report_ignores_the_dataset_key():
    from research.reproduce.report import markdown_table

    folder = Path(__file__).resolve().parents[2] / "docs" / "results" / "cpu_long_centered"
    results = json.loads((folder / "results.json").read_text())
    assert "dataset" not in results  # written before the key
    assert markdown_table({**results, "dataset": "esc50"}) == markdown_table(results)


def test_merge_refuses_a_dataset_option_and_mixed_datasets(tmp_path):
    from research.reproduce.merge import _check_compatible

    with pytest.raises(ValueError, match="--dataset would be ignored"):
        reproduce.main(["--stage", "merge", "--merge", "a", "b", "--out", str(tmp_path),
                        "--dataset", "kaggle18"])
    esc = ("esc", {"config": {}, "models": {}})  # a run from before the key
    k18 = ("k18", {"config": {}, "models": {}, "dataset": "kaggle18"})
    _check_compatible([esc, ("esc2", {"config": {}, "models": {}, "dataset": "esc50"})])
    with pytest.raises(ValueError, match="'dataset' is 'esc50' in one and 'kaggle18'"):
        _check_compatible([esc, k18])
