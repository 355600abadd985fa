"""The README's headline tables are laid out from results.json, and say where each
model was trained (issue 28)."""

import json

import pytest

from research.reproduce.headline import SETTINGS, headline_tables, main


def _entry(acc, commits, gain=None):
    mean = {s: {"accuracy": acc + i, "ci95_clips": 1.5, "ci95_seeds": 2.0}
            for i, s in enumerate(SETTINGS)}
    per_seed = [{"seed": i, "trained_at": {"commit": c, "loaded": False}}
                for i, c in enumerate(commits)]
    out = {"mean": mean, "per_seed": per_seed}
    if gain is not None:
        out["paired_gain"] = {s: {"gain": gain, "ci95_clips": 0.5} for s in SETTINGS}
    return out


def _write(folder, models, commit="abc1234"):
    folder.mkdir()
    paper = {"baseline": {s: [69.0, 0.6] for s in SETTINGS},
             "halluaudio": {s: [72.0, 0.6] for s in SETTINGS},
             "time_concept": {s: [70.0, 0.6] for s in SETTINGS}}
    (folder / "results.json").write_text(json.dumps(
        {"models": models, "paper": paper, "commit": commit}))
    return folder


def test_one_commit_run(tmp_path):
    run = _write(tmp_path / "run", {"baseline": _entry(70.0, ["abc1234"] * 5),
                                    "halluaudio": _entry(71.0, ["abc1234"] * 5, gain=1.0)})
    text = "\n".join(headline_tables(run))
    assert "| baseline (5 seeds) | 70.00 ± 1.50 (± 2.00) | 71.00 ± 1.50 (± 2.00) |" in text
    assert "| baseline, paper (lower CI bound) | 69.00 (68.40) |" in text
    assert "- baseline, ours (paired) | +1.00 ± 0.50 |" in text
    assert "- baseline, paper | +3.00 |" in text
    assert "every model trained at the run's commit" in text
    assert "test_time_shifts 1" in text


def test_a_model_from_another_commit_is_named(tmp_path):
    run = _write(tmp_path / "run", {
        "baseline": _entry(70.0, ["abc1234", "0ld0ld0"]),
        "halluaudio": _entry(71.0, ["abc1234", "abc1234"], gain=1.0)})
    text = "\n".join(headline_tables(run))
    assert "NOT a one-commit run: baseline seed 1 at `0ld0ld0`" in text


def test_time_concept_table(tmp_path):
    run = _write(tmp_path / "run", {"baseline": _entry(70.0, ["c"] * 5),
                                    "halluaudio": _entry(71.0, ["c"] * 5, gain=1.0)}, "c")
    time = _write(tmp_path / "time", {"baseline": _entry(70.0, ["c"] * 3),
                                      "halluaudio": _entry(71.0, ["c"] * 3, gain=1.0),
                                      "time_concept": _entry(72.0, ["c"] * 3, gain=2.0)}, "c")
    text = "\n".join(headline_tables(run, time))
    assert "| time concept (Table 2) (3 seeds) | 72.00 ± 1.50 (± 2.00) |" in text
    assert "| time concept (Table 2) - baseline, ours (paired) | +2.00 ± 0.50 |" in text


def test_quick_and_other_split_runs_are_refused(tmp_path):
    run = _write(tmp_path / "run", {"baseline": _entry(70.0, ["c"]),
                                    "halluaudio": _entry(71.0, ["c"], gain=1.0)}, "c")
    data = json.loads((run / "results.json").read_text())
    (run / "results.json").write_text(json.dumps({**data, "quick": True}))
    with pytest.raises(ValueError, match="--quick run"):
        headline_tables(run)
    (run / "results.json").write_text(json.dumps({**data, "config": {"class_split": 2}}))
    with pytest.raises(ValueError, match="class split 2, not the paper's"):
        headline_tables(run)


def test_clear_errors(tmp_path, capsys):
    assert main([str(tmp_path / "nowhere")]) == 2
    assert "no results.json there" in capsys.readouterr().err
    run = _write(tmp_path / "run", {"baseline": _entry(70.0, ["c"])}, "c")
    with pytest.raises(ValueError, match="no 'halluaudio'"):
        headline_tables(run)
