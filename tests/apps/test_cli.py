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
    folder = tmp_path_factory.mktemp("cli")
    code, out, err = run_cli("train", "--esc50", esc50_root, "--max-per-class", "10",
                             "--epochs", "1", "--channels", "8,8,8", "--out", folder / "model",
                             "--no-progress")
    assert code == 0, err
    path = folder / "model.skops"  # the safe format by default
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


def test_reproduce_says_where_the_reproduction_lives(capsys):
    # research code is not installed: the command names the way to run it from a clone
    assert main(["reproduce", "--stage", "report", "--out", "x"]) == 2
    err = capsys.readouterr().err
    assert "python -m research.reproduce" in err and "not installed" in err


def test_installed_console_script_runs():
    """The `sklearn-hallu` entry point of the installed package (beside this Python)."""
    script = os.path.join(os.path.dirname(sys.executable), "sklearn-hallu")
    assert os.path.isfile(script), f"console script missing: {script} (pip install .)"
    proc = subprocess.run([script, "--help"], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert "train" in proc.stdout and "predict" in proc.stdout


@pytest.mark.skipif(not os.environ.get("SKLEARN_HALLU_EXPECT_INSTALLED"),
                    reason="CI only: set SKLEARN_HALLU_EXPECT_INSTALLED=1 to require it")
def test_tests_import_the_installed_package():
    """In CI (.ci/run) the package under test is the installed one, not the checkout."""
    import sysconfig

    import sklearn_hallu

    assert sklearn_hallu.__file__.startswith(sysconfig.get_paths()["purelib"]), \
        sklearn_hallu.__file__


def _write_sounds(folder, classes, n, seed=0):
    """``n`` short clips per class at 16 kHz, one sub-folder per class."""
    import soundfile as sf

    from sklearn_hallu.datasets import make_sounds

    X, y = make_sounds(n_classes=len(classes), n_per_class=n, sr=16000, duration=0.25,
                       random_state=seed)
    for i, (clip, label) in enumerate(zip(X, y)):
        (folder / classes[label]).mkdir(parents=True, exist_ok=True)
        sf.write(folder / classes[label] / f"{i}.wav", clip, 16000)


def test_skops_by_default_safe_loading_and_pickle_warning(tmp_path, capsys):
    import joblib
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import FunctionTransformer

    from sklearn_hallu.persistence import dump, load

    _write_sounds(tmp_path / "train", "abc", 3)
    _write_sounds(tmp_path / "new", "xy", 2, seed=1)
    queries = str(tmp_path / "new" / "x")
    assert main(["train", str(tmp_path / "train"), "--out", str(tmp_path / "m"),
                 "--duration", "0.25", "--epochs", "1", "--channels", "4,4,4", "--n-way", "2",
                 "--k-shot", "1", "--n-query", "1", "--no-progress"]) == 0
    assert "m.skops" in capsys.readouterr().err
    predict = ["--support", str(tmp_path / "new"), queries, "--no-progress"]
    assert main(["predict", str(tmp_path / "m.skops"), *predict]) == 0
    out, err = capsys.readouterr()
    assert out.startswith("file,label,p_x,p_y") and "pickle" not in err
    # a pickle is refused (nothing printed but the way out), unless --allow-pickle
    pipe = load(tmp_path / "m.skops")
    joblib.dump(pipe, tmp_path / "m.joblib")
    assert main(["predict", str(tmp_path / "m.joblib"), *predict]) == 2
    out, err = capsys.readouterr()
    assert not out and f"{str(tmp_path / 'm.joblib')!r} is a pickle" in err
    assert "--allow-pickle" in err and "persistence.dump(model, " in err
    assert main(["predict", str(tmp_path / "m.joblib"), "--allow-pickle", *predict]) == 0
    out, err = capsys.readouterr()
    assert "is a pickle, loaded because of --allow-pickle" in err and "Convert it" in err
    assert out.startswith("file,label")
    # a skops file named .joblib is loaded as skops (no flag needed), with a hint
    (tmp_path / "m.skops").rename(tmp_path / "renamed.joblib")
    assert main(["predict", str(tmp_path / "renamed.joblib"), *predict]) == 0
    out, err = capsys.readouterr()
    assert "is a skops file" in err and "Rename it to 'renamed.skops'" in err
    assert out.startswith("file,label")
    # a skops file with a foreign type is refused unless the type is trusted by name
    foreign = Pipeline(pipe.steps[:2] + [("f", FunctionTransformer(_identity))] + pipe.steps[2:])
    dump(foreign, tmp_path / "f.skops")
    assert main(["predict", str(tmp_path / "f.skops"), *predict]) == 2
    err = capsys.readouterr().err
    name = f"{__name__}._identity"
    assert f"does not trust: {name}" in err and "--trust" in err
    assert main(["predict", str(tmp_path / "f.skops"), "--trust", name, *predict]) == 0


def _identity(X):
    return X


def test_help_is_fast_shows_defaults_and_version(capsys):
    """--help builds without torch (no reproduce/demo options), defaults are shown."""
    code = ("import sys; from sklearn_hallu.apps import cli; "
            "cli.build_parser(['--help']).format_help(); cli.build_parser(['train']); "
            "assert 'torch' not in sys.modules, 'torch imported'")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    with pytest.raises(SystemExit) as exc:
        main(["--version"])
    assert exc.value.code == 0 and "sklearn-hallu 0.2" in capsys.readouterr().out
    with pytest.raises(SystemExit):
        main(["train", "--help"])
    out = capsys.readouterr().out
    assert "(default: 20)" in out and "(default: 64,64,64)" in out and "(default: None)" not in out


@pytest.mark.parametrize("args,match", [
    (["--channels", "16 16 x"], "argument --channels: expected channel widths as integers"),
    (["--channels", "16,0,16"], "argument --channels: channel widths must be positive"),
    (["--epochs", "0"], "argument --epochs: must be at least 1, got 0"),
    (["--n-way", "1"], "argument --n-way: must be at least 2"),
    (["--duration", "-1"], "argument --duration: must be positive"),
])
def test_options_validated_by_name(args, match, capsys, tmp_path):
    with pytest.raises(SystemExit) as exc:
        main(["train", str(tmp_path), "--out", str(tmp_path / "m"), *args])
    assert exc.value.code == 2 and match in capsys.readouterr().err


def test_esc50_path_that_does_not_exist_is_not_downloaded(tmp_path, capsys):
    assert main(["train", "--esc50", str(tmp_path / "nope"), "--out", str(tmp_path / "m")]) == 2
    assert "no such folder" in capsys.readouterr().err
    assert not (tmp_path / "nope").exists()


def test_every_file_is_used_or_reported(tmp_path, capsys):
    import soundfile as sf

    from sklearn_hallu.apps.cli import CLIError, read_clips, scan_folder

    _write_sounds(tmp_path / "d", "ab", 2)
    (tmp_path / "d" / "a" / "notes.txt").write_text("x")
    files, labels = scan_folder(tmp_path / "d")
    assert len(files) == 4 and "notes.txt" in capsys.readouterr().err
    (tmp_path / "d" / "c").mkdir()
    (tmp_path / "d" / "c" / "song.m4a").write_bytes(b"\0" * 10)
    with pytest.raises(CLIError, match=r"class folder\(s\) c \(1 file\(s\): \.m4a\)"):
        scan_folder(tmp_path / "d")
    sf.write(tmp_path / "tiny.wav", np.zeros(100), 16000)
    with pytest.raises(CLIError, match=r"tiny\.wav.*shorter than one analysis frame"):
        read_clips([str(tmp_path / "tiny.wav")], sr=16000, verbose=False, min_samples=1024)
    sf.write(tmp_path / "long.wav", np.ones(16000 * 3) * 0.1, 16000)
    read_clips([str(tmp_path / "long.wav")], sr=16000, verbose=False, duration=1.0,
               crop="loudest")
    assert "'long.wav' (3.0 s)" in capsys.readouterr().err


@pytest.mark.parametrize("swallowed", [True, False])
def test_interrupt_exits_130_and_keeps_the_old_model(tmp_path, capsys, monkeypatch, swallowed):
    """Ctrl-C during training: exit 130, the model already there is untouched. skorch
    catches KeyboardInterrupt and returns normally; the CLI still notices."""
    import signal

    from sklearn_hallu.apps import cli

    def interrupted_fit(pipe, clips, labels):
        if not swallowed:
            raise KeyboardInterrupt
        try:  # what skorch's fit loop does
            signal.raise_signal(signal.SIGINT)
        except KeyboardInterrupt:
            pass
        return pipe

    _write_sounds(tmp_path / "train", "abc", 2)
    (tmp_path / "m.skops").write_bytes(b"the good old model")
    monkeypatch.setattr(cli, "_fit", interrupted_fit)
    code = main(["train", str(tmp_path / "train"), "--out", str(tmp_path / "m.skops"),
                 "--duration", "0.25", "--n-way", "2", "--k-shot", "1", "--n-query", "1",
                 "--no-progress", "--force"])
    assert code == 130 and "interrupted" in capsys.readouterr().err
    assert (tmp_path / "m.skops").read_bytes() == b"the good old model"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.skops", "train"]


def test_model_file_errors_device_crop_and_both_cis(tmp_path, capsys):
    import torch

    _write_sounds(tmp_path / "train", "abc", 3)
    _write_sounds(tmp_path / "new", "xy", 3, seed=1)
    for name in ("junk.skops", "junk.joblib"):
        (tmp_path / name).write_bytes(b"not a model")
        allow = ["--allow-pickle"] if name.endswith(".joblib") else []
        assert main(["predict", str(tmp_path / name), "--support", str(tmp_path / "new"),
                     str(tmp_path / "new"), "--no-progress", *allow]) == 2
        assert "is not a model file written by 'sklearn-hallu train'" in capsys.readouterr().err
    assert main(["train", str(tmp_path / "train"), "--out", str(tmp_path / "m"),
                 "--duration", "0.25", "--epochs", "1", "--channels", "4 4 4", "--n-way", "2",
                 "--k-shot", "1", "--n-query", "1", "--no-progress"]) == 0
    capsys.readouterr()
    predict = ["predict", str(tmp_path / "m.skops"), "--support", str(tmp_path / "new"),
               str(tmp_path / "new"), "--no-progress"]
    if not torch.cuda.is_available():  # --device is honoured: asking for CUDA is checked
        assert main([*predict, "--device", "cuda"]) == 2
        assert "CUDA is not available" in capsys.readouterr().err
    assert main([*predict, "--crop", "loudest", "--device", "cpu"]) == 0
    assert main(["evaluate", str(tmp_path / "m.skops"), str(tmp_path / "new"), "--n-way", "2",
                 "--k-shot", "1", "--repeats", "2", "--no-progress"]) == 0
    out = capsys.readouterr().out
    assert "95% CI (queries, as the paper)" in out and "95% CI (clips)" in out
    assert "use this one to compare models" in out


def test_use_device_moves_the_fitted_net(tmp_path):
    from sklearn_hallu.apps._pipeline import make_model
    from sklearn_hallu.apps.cli import _use_device
    from sklearn_hallu.datasets import make_sounds

    X, y = make_sounds(n_classes=3, n_per_class=2, sr=16000, duration=0.25, random_state=0)
    pipe = make_model("baseline", logmel={"duration": 0.25}, n_way=2, k_shot=1, n_query=1,
                      max_epochs=1, channels=(4, 4, 4), verbose=0).fit(X, y)
    clf = pipe.steps[-1][1]
    clf.net_.device = "meta"  # as if saved elsewhere: _use_device puts all of it back
    _use_device(pipe, "cpu")
    assert clf.device == clf.net_.device == "cpu"
    assert all(p.device.type == "cpu" for p in clf.net_.module_.parameters())
    pipe.predict(X)


def test_warnings_name_files_and_crop_windows(tmp_path, capsys):
    """The library's SilentClipWarning names files, not positions; --crop windows scores
    every window of a long query (predict) or clip (evaluate)."""
    import soundfile as sf

    _write_sounds(tmp_path / "train", "abc", 3)
    _write_sounds(tmp_path / "new", "xy", 3, seed=1)
    queries = tmp_path / "queries"
    queries.mkdir()
    sf.write(queries / "a_silent.wav", np.zeros(4000), 16000)
    clip, _ = sf.read(tmp_path / "new" / "x" / "0.wav")
    noise = 0.01 * np.random.default_rng(0).normal(size=8000)
    sf.write(queries / "b_long.wav", np.concatenate([clip, noise, clip]), 16000)
    assert main(["train", str(tmp_path / "train"), "--out", str(tmp_path / "m"),
                 "--duration", "0.25", "--epochs", "1", "--channels", "4,4,4", "--n-way", "2",
                 "--k-shot", "1", "--n-query", "1", "--no-progress"]) == 0
    capsys.readouterr()
    predict = ["predict", str(tmp_path / "m.skops"), "--support", str(tmp_path / "new"),
               str(queries), "--no-progress", "--format", "json"]
    silent = f"1 of 2 files are silent (no energy above about -80 dB): " \
             f"{str(queries / 'a_silent.wav')!r}"
    for extra in ([], ["--crop", "windows"], ["--crop", "windows", "--pool", "max"]):
        assert main([*predict, *extra]) == 0
        out, err = capsys.readouterr()
        assert silent in err and "clip 0" not in err, err
        assert [r["file"] for r in json.loads(out)] == [str(queries / "a_silent.wav"),
                                                         str(queries / "b_long.wav")]
        assert ("longer than 0.25 s" in err) == (not extra)  # windows cut nothing
    assert main([*predict, "--pool", "max"]) == 2
    assert "--pool max pools the scores of windows: add --crop windows" in \
        capsys.readouterr().err
    sf.write(tmp_path / "new" / "y" / "silent.wav", np.zeros(4000), 16000)
    for extra in ([], ["--crop", "windows"]):
        assert main(["evaluate", str(tmp_path / "m.skops"), str(tmp_path / "new"), "--n-way",
                     "2", "--k-shot", "1", "--repeats", "2", "--no-progress", "--format",
                     "json", *extra]) == 0
        out, err = capsys.readouterr()
        assert f"{str(tmp_path / 'new' / 'y' / 'silent.wav')!r}" in err and "clip " not in err
        assert json.loads(out)["2-way 1-shot"]["n_queries"] == 2 * 7


def test_evaluate_open_set_table_json_and_errors(tmp_path, capsys):
    """--open-set adds a table (or an "open_set" JSON key) computed by OpenSetScorer on the
    closed-set report's embeddings; the closed-set JSON is unchanged."""
    import re

    from sklearn_hallu import embed
    from sklearn_hallu.apps.cli import scan_folder
    from sklearn_hallu.model_selection import OpenSetScorer
    from sklearn_hallu.persistence import load

    _write_sounds(tmp_path / "train", "abc", 3)
    _write_sounds(tmp_path / "new", "wxyz", 7, seed=1)
    assert main(["train", str(tmp_path / "train"), "--out", str(tmp_path / "m"),
                 "--duration", "0.25", "--epochs", "1", "--channels", "4,4,4", "--n-way", "2",
                 "--k-shot", "1", "--n-query", "1", "--no-progress"]) == 0
    capsys.readouterr()
    evaluate = ["evaluate", str(tmp_path / "m.skops"), str(tmp_path / "new"), "--n-way", "2",
                "--repeats", "2", "--episodes", "20", "--no-progress"]
    assert main([*evaluate, "--k-shot", "1", "--format", "json"]) == 0
    closed = json.loads(capsys.readouterr().out)
    assert set(closed) == {"2-way 1-shot"}  # no "open_set" key unless asked
    assert main([*evaluate, "--k-shot", "1", "2", "--format", "json", "--open-set"]) == 0
    res = json.loads(capsys.readouterr().out)
    assert set(res) == {"2-way 1-shot", "2-way 2-shot", "open_set"}
    assert res["2-way 1-shot"] == closed["2-way 1-shot"]
    one, two = res["open_set"]["2-way 1-shot"], res["open_set"]["2-way 2-shot"]
    assert (one["n_unknown_way"], one["n_episodes"], one["false_alarm_rate"]) == (2, 20, 0.05)
    assert one["known_rejected"] is None and 0 <= two["unknown_rejected"] <= 100
    # the scorer on the same clips, embedded by the same model, seeded by --seed; percent
    pipe = load(tmp_path / "m.skops")
    files, labels = scan_folder(tmp_path / "new")
    ref = OpenSetScorer(2, 2, n_episodes=20, random_state=0).evaluate_embeddings(
        embed(pipe, files), labels)
    assert 50 < two["auroc"] <= 100  # chance is 50
    assert two["auroc"] == pytest.approx(100 * ref.auroc)
    assert two["known_accuracy_at_far_ci95"] == pytest.approx(
        100 * ref.ci95("known_accuracy_at_far"))

    assert main([*evaluate, "--k-shot", "1", "2", "--open-set", "--false-alarm-rate",
                 "0.1"]) == 0
    out = capsys.readouterr().out
    assert ("| setting | AUROC (%) | known acc. at 10% false alarms (%) | known rejected (%) "
            "| unknown rejected (%) |") in out
    assert re.search(r"\| 2-way 1-shot \| [\d.]+ ±[\d.]+ \| [\d.]+ ±[\d.]+ \| n/a \| n/a \|",
                     out)
    row = re.search(r"\| 2-way 2-shot \| ([\d.]+) ±[\d.]+ \|( [\d.]+ ±[\d.]+ \|){3}$", out,
                    re.M)
    assert row and float(row.group(1)) == pytest.approx(100 * ref.auroc, abs=0.01)
    assert "95% CI over the 20 episodes" in out

    assert main([*evaluate, "--k-shot", "1", "--open-set", "--n-way", "4"]) == 2
    err = capsys.readouterr().err
    assert "--open-set needs classes besides the --n-way 4 known ones" in err
    assert "holds 4 classes; lower --n-way to at most 3" in err
    assert main([*evaluate, "--k-shot", "3", "--open-set"]) == 2
    assert "fewer than the 8 clips needed" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main([*evaluate, "--open-set", "--false-alarm-rate", "1"])
    assert "--false-alarm-rate: must be between 0 and 1" in capsys.readouterr().err


def test_readme_shell_block_runs_as_written(tmp_path):
    """The README's three CLI lines, verbatim, on folders of the names they use."""
    import re
    import shlex
    from pathlib import Path

    import soundfile as sf

    from sklearn_hallu.datasets import make_sounds

    readme = (Path(__file__).parents[2] / "README.md").read_text()
    block = next(b for b in re.findall(r"```bash\n(.*?)```", readme, re.S)
                 if "sklearn-hallu train" in b)
    X, y = make_sounds(n_classes=13, n_per_class=10, sr=16000, duration=1.0, random_state=0)
    names = [f"sound{c}" for c in range(13)]
    for folder, classes, n in (("my_sounds", range(5), 10), ("new_sounds", range(5, 8), 2),
                               ("held_out", range(8, 13), 7)):
        for c in classes:
            (tmp_path / folder / names[c]).mkdir(parents=True)
            for i, clip in enumerate(X[y == c][:n]):
                sf.write(tmp_path / folder / names[c] / f"{i}.wav", clip, 16000)
    for q, c in (("query1.wav", 5), ("query2.wav", 6)):
        sf.write(tmp_path / q, X[y == c][-1], 16000)
    outputs = []
    for line in block.strip().splitlines():
        args = shlex.split(line, comments=True)
        assert args[0] == "sklearn-hallu", line
        proc = subprocess.run([sys.executable, "-m", "sklearn_hallu.apps.cli", *args[1:]],
                              cwd=tmp_path, capture_output=True, text=True)
        assert proc.returncode == 0, (line, proc.stderr[-2000:])
        outputs.append(proc.stdout)
    assert (tmp_path / "model.skops").is_file()
    rows = list(csv.DictReader(io.StringIO(outputs[1])))
    assert [Path(r["file"]).name for r in rows] == ["query1.wav", "query2.wav"]
    assert {r["label"] for r in rows} <= {names[5], names[6], names[7]}
    assert "5-way 1-shot" in outputs[2] and "5-way 5-shot" in outputs[2]


def test_a_pipeline_of_other_estimators_is_not_a_model_of_ours(tmp_path, capsys):
    """A skops file of a scikit-learn Pipeline loads, then is refused by name (not by a
    failing set_params(device=...)); the same file named .joblib is read as skops."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    from sklearn_hallu.persistence import dump

    X, y = np.random.default_rng(0).normal(size=(20, 3)), np.repeat([0, 1], 10)
    _write_sounds(tmp_path / "new", "xy", 2)
    for name in ("sk.skops", "sk.joblib"):
        dump(make_pipeline(StandardScaler(), LogisticRegression()).fit(X, y), tmp_path / name)
        assert main(["predict", str(tmp_path / name), "--support", str(tmp_path / "new"),
                     str(tmp_path / "new"), "--no-progress"]) == 2
        err = capsys.readouterr().err
        assert f"{str(tmp_path / name)!r} is not a model of sklearn-hallu" in err
        assert "Pipeline(StandardScaler, LogisticRegression)" in err
        assert "sklearn-hallu train" in err and "Invalid parameter" not in err
        assert "Unpickling" not in err and "pickle" not in err.split("error:")[-1]


TRAIN_FAST = ["--duration", "0.25", "--n-way", "2", "--k-shot", "1", "--n-query", "1",
              "--channels", "4,4,4", "--epochs", "1", "--no-progress"]


def _train(tmp_path, out, *extra):
    return main(["train", str(tmp_path / "train"), "--out", str(out), *TRAIN_FAST, *extra])


def test_train_refuses_an_existing_out_before_training_unless_force(tmp_path, capsys,
                                                                   monkeypatch):
    from sklearn_hallu.apps import cli

    _write_sounds(tmp_path / "train", "abc", 2)
    out = tmp_path / "m.skops"
    out.write_bytes(b"the good old model")

    def no_training(pipe, clips, labels):
        raise AssertionError("trained although --out exists")

    monkeypatch.setattr(cli, "_fit", no_training)
    assert _train(tmp_path, tmp_path / "m") == 2  # the .skops is added, then found
    err = capsys.readouterr().err
    assert f"--out {str(out)!r} already exists" in err and "--force" in err
    assert out.read_bytes() == b"the good old model"
    monkeypatch.setattr(cli, "_fit", lambda pipe, clips, labels: pipe)  # fast: untrained
    assert _train(tmp_path, out, "--force") == 0
    assert out.read_bytes()[:4] == b"PK\x03\x04"  # replaced by the new (skops) model
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.skops", "train"]  # no lock left


def test_two_trains_to_one_file_cannot_both_succeed(tmp_path, capsys, monkeypatch):
    """Deterministic concurrency: while one run trains (holding <out>.lock), a second
    run to the same file stops at once, naming the lock; the first one succeeds."""
    from sklearn_hallu.apps import cli

    _write_sounds(tmp_path / "train", "abc", 2)
    out, lock = tmp_path / "m.skops", tmp_path / "m.skops.lock"
    second = {}

    def fit_while_another_run_starts(pipe, clips, labels):
        assert lock.is_file() and lock.read_text().split()[0] == str(os.getpid())
        second["code"] = _train(tmp_path, out)
        second["err"] = capsys.readouterr().err
        return pipe

    monkeypatch.setattr(cli, "_fit", fit_while_another_run_starts)
    assert _train(tmp_path, out) == 0
    assert second["code"] == 2
    assert f"{str(lock)!r} exists" in second["err"] and "is writing" in second["err"]
    assert f"pid {os.getpid()}" in second["err"]
    assert out.is_file() and not lock.exists()  # the second run left the lock alone


def test_a_stale_lock_is_named_with_its_dead_pid(tmp_path, capsys, monkeypatch):
    import socket

    from sklearn_hallu.apps import cli

    _write_sounds(tmp_path / "train", "abc", 2)
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()  # a finished process: its pid names no running process
    lock = tmp_path / "m.skops.lock"
    lock.write_text(f"{dead.pid} {socket.gethostname()}\n")
    monkeypatch.setattr(cli, "_fit", lambda pipe, clips, labels: pipe)
    assert _train(tmp_path, tmp_path / "m.skops") == 2
    err = capsys.readouterr().err
    assert f"pid {dead.pid}" in err and "no longer running" in err
    assert f"rm {str(lock)!r}" in err
    assert lock.is_file() and not (tmp_path / "m.skops").exists()
    lock.unlink()  # the way out
    assert _train(tmp_path, tmp_path / "m.skops") == 0


def test_a_file_written_meanwhile_is_not_replaced(tmp_path, capsys, monkeypatch):
    """Another program writes --out during training: the final rename does not replace
    it; the new model is kept beside it under a name the error gives."""
    from sklearn_hallu.apps import cli

    _write_sounds(tmp_path / "train", "abc", 2)
    out = tmp_path / "m.skops"

    def fit_while_out_appears(pipe, clips, labels):
        out.write_bytes(b"someone else's file")
        return pipe

    monkeypatch.setattr(cli, "_fit", fit_while_out_appears)
    assert _train(tmp_path, out) == 2
    err = capsys.readouterr().err
    kept = tmp_path / f"m.new-{os.getpid()}.skops"
    assert f"{str(out)!r} appeared while training" in err and str(kept) in err
    assert out.read_bytes() == b"someone else's file"
    assert kept.read_bytes()[:4] == b"PK\x03\x04"
    assert sorted(p.name for p in tmp_path.iterdir()) == [kept.name, "m.skops", "train"]
