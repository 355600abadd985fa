"""``sklearn-hallu predict`` on many files: --out, resuming, --on-error, symlinks, logs."""

import csv
import io
import json
import os

import numpy as np
import pytest
import soundfile as sf

import sklearn_hallu
from sklearn_hallu.apps.cli import CLIError, main, scan_folder
from sklearn_hallu.datasets import make_sounds

SR = 16000


def _write(folder, classes, n, seed):
    X, y = make_sounds(n_classes=len(classes), n_per_class=n, sr=SR, duration=0.25,
                       random_state=seed)
    for i, (clip, label) in enumerate(zip(X, y)):
        (folder / classes[label]).mkdir(parents=True, exist_ok=True)
        sf.write(folder / classes[label] / f"{i:02d}.wav", clip, SR)


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    """A tiny trained model, a support folder of 2 classes, a folder of 12 queries."""
    root = tmp_path_factory.mktemp("predict")
    _write(root / "train", "abc", 3, seed=0)
    _write(root / "new", "xy", 3, seed=1)
    _write(root / "queries", "xy", 6, seed=2)
    assert main(["train", str(root / "train"), "--out", str(root / "m"), "--duration", "0.25",
                 "--epochs", "1", "--channels", "4,4,4", "--n-way", "2", "--k-shot", "1",
                 "--n-query", "1", "--no-progress"]) == 0
    return root


def _predict(root, *extra, queries=None):
    return main(["predict", str(root / "m.skops"), "--support", str(root / "new"),
                 *(queries or [str(root / "queries")]), "--batch-size", "5", *extra])


def test_rows_are_those_of_the_pipeline_and_out_is_atomic(setup, tmp_path, capsys):
    from sklearn_hallu import fit_support
    from sklearn_hallu.apps.cli import read_clips
    from sklearn_hallu.persistence import load

    assert _predict(setup, "--no-progress") == 0
    stdout = capsys.readouterr().out
    rows = list(csv.reader(io.StringIO(stdout)))
    files = sorted(str(p) for p in (setup / "queries").rglob("*.wav"))
    assert rows[0] == ["file", "label", "p_x", "p_y"] and [r[0] for r in rows[1:]] == files
    pipe = load(setup / "m.skops")  # the one-call path predict took before
    sup = scan_folder(setup / "new")
    fit_support(pipe, read_clips(sup[0], sr=SR, verbose=False), sup[1])
    proba = pipe.predict_proba(read_clips(files, sr=SR, verbose=False))
    np.testing.assert_allclose([[float(v) for v in r[2:]] for r in rows[1:]], proba, atol=2e-6)
    assert [r[1] for r in rows[1:]] == list(pipe.classes_[proba.argmax(1)])

    out = tmp_path / "preds.csv"
    assert _predict(setup, "--no-progress", "--out", str(out)) == 0
    assert out.read_text() == stdout
    assert sorted(p.name for p in tmp_path.iterdir()) == ["preds.csv"]  # no partial left
    assert _predict(setup, "--no-progress", "--format", "json", "--out", str(tmp_path / "p.json"))\
        == 0
    parsed = json.loads((tmp_path / "p.json").read_text())
    assert [r["file"] for r in parsed] == files
    assert _predict(setup, "--no-progress", "--format", "json") == 0
    assert json.loads(capsys.readouterr().out) == parsed


def test_unreadable_files_all_named_at_once_and_the_old_file_kept(setup, tmp_path, capsys):
    queries = tmp_path / "q"
    queries.mkdir()
    for name in ("a.wav", "b.wav"):
        os.symlink(next((setup / "queries" / "x").iterdir()), queries / name)
    (queries / "broken1.wav").write_bytes(b"not audio")
    (queries / "broken2.wav").write_bytes(b"not audio either")
    os.symlink(tmp_path / "annex" / "objects" / "key", queries / "annexed.wav")
    os.symlink(queries / "loop.wav", queries / "loop.wav")
    out = tmp_path / "preds.csv"
    out.write_text("the results of last week\n")
    assert _predict(setup, "--no-progress", "--out", str(out), queries=[str(queries)]) == 2
    err = capsys.readouterr().err
    for name in ("broken1.wav", "broken2.wav", "annexed.wav", "loop.wav"):
        assert name in err  # one run names every bad file
    assert "dangling symlink" in err and "symlink loop" in err and "--on-error skip" in err
    assert out.read_text() == "the results of last week\n"
    errors = list(csv.reader(open(tmp_path / "preds.csv.errors.csv")))
    assert errors[0] == ["file", "reason"] and len(errors) == 5

    code = _predict(setup, "--no-progress", "--out", str(out), "--on-error", "skip",
                    queries=[str(queries)])
    err = capsys.readouterr().err
    assert code == 3 and "4 file(s) were skipped (--on-error skip), exit status 3" in err
    rows = list(csv.reader(open(out)))
    assert [os.path.basename(r[0]) for r in rows[1:]] == ["a.wav", "b.wav"]
    reasons = dict(list(csv.reader(open(tmp_path / "preds.csv.errors.csv")))[1:])
    assert sorted(os.path.basename(f) for f in reasons) == ["annexed.wav", "broken1.wav",
                                                            "broken2.wav", "loop.wav"]
    assert "could not be decoded" in reasons[str(queries / "broken1.wav")]
    os.remove(queries / "broken1.wav")
    os.remove(queries / "broken2.wav")
    os.remove(queries / "annexed.wav")
    os.remove(queries / "loop.wav")
    assert _predict(setup, "--no-progress", "--out", str(out), queries=[str(queries)]) == 0
    assert not (tmp_path / "preds.csv.errors.csv").exists()  # nothing left out this time


def _interrupt_after(n, monkeypatch, asked):
    real = sklearn_hallu.predict_files

    def interrupted(model, paths, **kw):
        paths = list(paths)
        asked.append(paths)
        for k, r in enumerate(real(model, paths, **kw)):
            if k == n:
                raise KeyboardInterrupt
            yield r

    monkeypatch.setattr(sklearn_hallu, "predict_files", interrupted)


def test_an_interrupted_run_is_resumed_from_its_partial_file(setup, tmp_path, capsys,
                                                             monkeypatch):
    full = tmp_path / "full.csv"
    assert _predict(setup, "--no-progress", "--out", str(full)) == 0
    out, asked = tmp_path / "preds.csv", []
    out.write_text("old\n")
    _interrupt_after(7, monkeypatch, asked)
    assert _predict(setup, "--no-progress", "--out", str(out)) == 130
    err = capsys.readouterr().err
    assert "interrupted; the 7 rows done are kept in" in err and "preds.csv.partial" in err
    assert out.read_text() == "old\n"  # untouched
    partial = tmp_path / "preds.csv.partial"
    assert partial.read_text() == "".join(full.read_text().splitlines(True)[:8])
    with open(partial, "a") as f:  # a crash in the middle of a row
        f.write(full.read_text().splitlines(True)[8][:15])
    monkeypatch.undo()
    _interrupt_after(10 ** 6, monkeypatch, asked)
    assert _predict(setup, "--no-progress", "--out", str(out)) == 0
    assert "resuming: 7 of 12 files are already in" in capsys.readouterr().err
    assert len(asked[1]) == 5  # only the files not done
    assert out.read_text() == full.read_text()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["full.csv", "preds.csv"]


def test_a_partial_file_of_another_run_is_refused(setup, tmp_path, capsys, monkeypatch):
    out = tmp_path / "preds.csv"
    _interrupt_after(3, monkeypatch, [])
    assert _predict(setup, "--no-progress", "--out", str(out)) == 130
    monkeypatch.undo()
    assert _predict(setup, "--no-progress", "--out", str(out), "--crop", "windows") == 2
    err = capsys.readouterr().err
    assert "preds.csv.partial' holds rows of an unfinished run" in err
    assert "crop differ" in err and "rm " in err


def test_a_file_that_fails_midway_stops_with_the_rows_before_it_kept(setup, tmp_path,
                                                                     capsys, monkeypatch):
    import sklearn_hallu.streaming as streaming

    queries = sorted(str(p) for p in (setup / "queries").rglob("*.wav"))
    bad = tmp_path / "late.wav"
    bad.write_bytes(b"RIFF....WAVE damaged")
    monkeypatch.setattr(streaming, "check_audio_files", lambda *a, **k: [])  # header looks ok
    out = tmp_path / "preds.csv"
    assert _predict(setup, "--no-progress", "--out", str(out),
                    queries=queries[:7] + [str(bad)] + queries[7:]) == 2
    err = capsys.readouterr().err
    assert "late.wav" in err and "run the same command again" in err
    assert not out.exists()
    assert len((tmp_path / "preds.csv.partial").read_text().splitlines()) == 1 + 7
    assert "late.wav" in (tmp_path / "preds.csv.errors.csv").read_text()


def test_symlinks_in_class_folders_are_used_or_named(setup, tmp_path, capsys):
    data = tmp_path / "data"
    _write(data, "ab", 2, seed=0)
    os.symlink(setup / "new" / "x", data / "linked_class")  # a linked folder is followed
    os.symlink(data, data / "a" / "back_up")  # a cycle
    files, labels = scan_folder(data)
    assert sorted(set(labels)) == ["a", "b", "linked_class"] and len(files) == 7
    assert "back_up" in capsys.readouterr().err
    os.symlink(tmp_path / "not_fetched", data / "a" / "annexed.wav")
    with pytest.raises(CLIError, match=r"annexed\.wav.*dangling symlink.*git annex get"):
        scan_folder(data)
    errors = []
    files, _ = scan_folder(data, errors=errors)
    assert len(files) == 7 and [os.path.basename(f) for f, _ in errors] == ["annexed.wav"]
    assert "annexed.wav" in capsys.readouterr().err


def test_logs_have_no_escape_codes_and_progress_counts_files(setup, tmp_path, capsys):
    assert main(["train", str(setup / "train"), "--out", str(tmp_path / "m"), "--duration",
                 "0.25", "--epochs", "1", "--channels", "4,4,4", "--n-way", "2", "--k-shot",
                 "1", "--n-query", "1", "--no-progress"]) == 0
    out, err = capsys.readouterr()
    assert "train_loss" in out  # skorch's epoch table, coloured on a terminal only
    assert "\x1b" not in out and "\x1b" not in err
    assert _predict(setup) == 0  # progress on, stderr not a terminal: plain lines
    out, err = capsys.readouterr()
    assert "\x1b" not in err and "\r" not in err
    assert "predict: 12/12 files (100%)" in err


def test_unreadable_support_clips_are_skipped_or_stop_the_run(setup, tmp_path, capsys):
    import shutil

    support = tmp_path / "support"
    shutil.copytree(setup / "new", support)
    (support / "x" / "zz_broken.wav").write_bytes(b"not audio")
    args = ["predict", str(setup / "m.skops"), "--support", str(support),
            str(setup / "queries" / "x"), "--no-progress", "--out", str(tmp_path / "p.csv")]
    assert main(args) == 2
    assert "zz_broken.wav" in capsys.readouterr().err and not (tmp_path / "p.csv").exists()
    assert main([*args, "--on-error", "skip"]) == 3
    assert "zz_broken.wav" in (tmp_path / "p.csv.errors.csv").read_text()
    for f in (support / "y").iterdir():
        f.write_bytes(b"broken too")
    assert main([*args, "--on-error", "skip"]) == 2
    assert "class(es) y of the support folder" in capsys.readouterr().err
