"""research.repeat: two run records of the same run, compared."""

import json

import pytest

from research.repeat import compare, main


def _record(seed=0, curve=(0.5, 0.6, 0.7), clips=(0.5, 1.0), fit=100.0, variant="v"):
    return {"variant": variant, "seed": seed, "best_epoch": 3, "best_valid_acc": curve[-1],
            "history": [{"valid_acc": a} for a in curve], "fit_s": fit,
            "per_clip": {"5w1s": list(clips), "5w5s": list(clips)}}


def test_identical_runs_have_no_differing_epoch():
    row = compare(_record(), _record(fit=110.0))
    assert row["first_epoch_that_differs"] is None
    assert row["max_per_clip_diff"] == 0
    assert row["fit_ratio"] == pytest.approx(1.1)


def test_first_differing_epoch_and_clip_difference():
    row = compare(_record(), _record(curve=(0.5, 0.65, 0.7), clips=(0.25, 1.0)))
    assert row["first_epoch_that_differs"] == 2
    assert row["max_per_clip_diff"] == pytest.approx(0.25)


def test_different_runs_are_refused():
    with pytest.raises(ValueError, match="not the same run: v seed 0 against v seed 1"):
        compare(_record(), _record(seed=1))


def test_cli_writes_the_table_for_the_common_records(tmp_path, capsys):
    a, b = tmp_path / "a", tmp_path / "b"
    a.mkdir(), b.mkdir()
    (a / "v_seed0.json").write_text(json.dumps(_record()))
    (a / "v_seed1.json").write_text(json.dumps(_record(seed=1)))
    (b / "v_seed0.json").write_text(json.dumps(_record(curve=(0.5, 0.6, 0.8))))
    assert main([str(a), str(b), "--out", str(tmp_path / "r.md")]) == 0
    text = (tmp_path / "r.md").read_text()
    assert "| v seed 0 | 3 / 3 | 0.7000 / 0.8000 | 3 | 0.000 | 1.00 |" in text
    assert "seed 1" not in text


def test_cli_refuses_folders_without_common_records(tmp_path):
    (tmp_path / "a").mkdir(), (tmp_path / "b").mkdir()
    with pytest.raises(SystemExit):
        main([str(tmp_path / "a"), str(tmp_path / "b")])
