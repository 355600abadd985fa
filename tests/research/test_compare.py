"""research.reproduce.compare says whether two runs repeat each other, per model and seed."""

import json

from research.reproduce.compare import compare_runs, main


def _run(folder, loss2, acc, platform="fc-a"):
    folder.mkdir()
    hist = [{"epoch": 1, "train_loss": 2.9, "train_acc": 0.6, "valid_acc": 0.62, "dur": 5.0},
            {"epoch": 2, "train_loss": loss2, "train_acc": 0.7, "valid_acc": 0.7, "dur": 6.0}]
    seed = {"seed": 0, "best_epoch": 2, "history": hist,
            "test": {"5-way 1-shot": {"accuracy": acc}}}
    (folder / "results.json").write_text(json.dumps({
        "commit": "c0ffee", "machine": {"platform": platform},
        "models": {"baseline": {"per_seed": [seed]}}}))
    return folder


def test_identical_runs_repeat_even_when_durations_differ(tmp_path):
    a = _run(tmp_path / "a", 1.1, 70.0)
    b = _run(tmp_path / "b", 1.1, 70.0, platform="fc-b")
    (row,) = compare_runs(a, b)
    assert row["identical"] and row["first_diff"] is None


def test_first_differing_epoch_and_test_numbers(tmp_path, capsys):
    a = _run(tmp_path / "a", 1.1, 70.0)
    b = _run(tmp_path / "b", 1.2, 67.0)
    (row,) = compare_runs(a, b)
    assert not row["identical"] and row["first_diff"] == 2
    assert row["test"]["5-way 1-shot"] == (70.0, 67.0)
    assert main([str(a), str(b)]) == 0
    out = capsys.readouterr().out
    assert "| baseline | 0 | no | 2 | 2 / 2 | 70.00 / 67.00 |" in out


def test_missing_folder_is_named(tmp_path, capsys):
    assert main([str(tmp_path / "nope"), str(tmp_path / "nope2")]) == 2
    assert "nope: no results.json there" in capsys.readouterr().err
