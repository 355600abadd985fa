"""The command-line tool: train on ESC-50, predict new classes from one clip each."""

import csv
import io
import json
import os
import subprocess
import sys

import numpy as np
import pytest

from sklearn_hallu.apps.cli import main
from sklearn_hallu.datasets import fetch_esc50


def run_cli(*args):
    proc = subprocess.run([sys.executable, "-m", "sklearn_hallu.apps.cli", *map(str, args)],
                          capture_output=True, text=True)
    return proc.returncode, proc.stdout, proc.stderr


@pytest.fixture(scope="module")
def trained_model(esc50_root, tmp_path_factory):
    path = tmp_path_factory.mktemp("cli") / "model.joblib"
    code, out, err = run_cli("train", "--esc50", esc50_root, "--max-per-class", "10",
                             "--epochs", "1", "--channels", "8,8,8", "--out", path,
                             "--no-progress")
    assert code == 0, err
    assert path.is_file()
    return path


def novel_folders(esc50_root, tmp_path, n_support=1):
    b = fetch_esc50(esc50_root, subset="test")
    classes = sorted(set(b.category))[:5]
    support, queries, truth = tmp_path / "support", [], []
    for c in classes:
        files = b.filenames[b.category == c]
        (support / c).mkdir(parents=True)
        for f in files[:n_support]:
            os.symlink(f, support / c / os.path.basename(f))
        queries += list(files[n_support:n_support + 2])
        truth += [c, c]
    return support, queries, truth, classes


@pytest.mark.esc50
def test_train_then_predict_csv_and_json(trained_model, esc50_root, tmp_path):
    support, queries, truth, classes = novel_folders(esc50_root, tmp_path)
    code, out, err = run_cli("predict", trained_model, "--support", support, *queries,
                             "--no-progress")
    assert code == 0, err
    rows = list(csv.DictReader(io.StringIO(out)))
    assert [r["file"] for r in rows] == queries
    assert {r["label"] for r in rows} <= set(classes)
    for r in rows:
        assert abs(sum(float(r[f"p_{c}"]) for c in classes) - 1) < 1e-4
    code, out, err = run_cli("predict", trained_model, "--support", support, *queries[:3],
                             "--format", "json", "--no-progress")
    assert code == 0, err
    parsed = json.loads(out)
    assert len(parsed) == 3 and set(parsed[0]["proba"]) == set(classes)


@pytest.mark.esc50
def test_evaluate(trained_model, esc50_root, tmp_path):
    support, _, _, _ = novel_folders(esc50_root, tmp_path, n_support=6)
    code, out, err = run_cli("evaluate", trained_model, support, "--k-shot", "1",
                             "--repeats", "2", "--format", "json", "--no-progress")
    assert code == 0, err
    res = json.loads(out)
    assert 0 <= res["5-way 1-shot"]["accuracy"] <= 100
    assert res["5-way 1-shot"]["n_queries"] == 2 * 30


def test_clear_errors_and_exit_codes(tmp_path, capsys):
    assert main(["train", str(tmp_path / "missing"), "--out", str(tmp_path / "m.joblib")]) == 2
    assert "does not exist" in capsys.readouterr().err
    (tmp_path / "data" / "a").mkdir(parents=True)
    (tmp_path / "data" / "b").mkdir(parents=True)
    rng = np.random.default_rng(0)
    import soundfile as sf

    for c in "ab":
        for i in range(3):
            sf.write(tmp_path / "data" / c / f"{i}.wav", rng.normal(size=800) * 0.1, 8000)
    assert main(["train", str(tmp_path / "data"), "--out", str(tmp_path / "m.joblib")]) == 2
    assert "fewer than the 10 clips" in capsys.readouterr().err
    (tmp_path / "data" / "a" / "broken.wav").write_bytes(b"not audio at all")
    assert main(["train", str(tmp_path / "data"), "--out", str(tmp_path / "m.joblib"),
                 "--n-way", "2", "--k-shot", "1", "--n-query", "1", "--no-progress"]) == 2
    assert "broken.wav" in capsys.readouterr().err
    assert main(["predict", str(tmp_path / "nope.joblib"), "--support", str(tmp_path),
                 "q.wav"]) == 2
    assert "does not exist" in capsys.readouterr().err
