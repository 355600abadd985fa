"""research.gate: the test-class gates read from research.cross_run_gain's gain.json."""

import json

import pytest

from research.gate import SETTINGS, gate, main


def paired(gains, cis=(0.5, 0.5, 0.5, 0.5)):
    return {s: {"gain": g, "ci95_clips": c, "ci95_seeds": 2.0}
            for s, g, c in zip(SETTINGS, gains, cis)}


def test_positive_needs_every_setting_above_zero():
    # time_pool's test-class gains over the default trained on the same machine
    rows, passed = gate(paired((0.50, 0.09, 0.44, 0.37), (0.45, 0.58, 0.57, 0.88)))
    assert passed and rows["5-way 1-shot"] == (0.50, 0.45)
    assert not gate(paired((0.5, 0.1, 0.0, 0.4)))[1]  # zero is not a gain
    assert not gate(paired((2.0, 2.0, 2.0, -0.01)))[1]


def test_excludes_zero_needs_every_clip_interval_above_zero():
    # the same numbers: only 5-way 1-shot's interval excludes zero -> fails
    assert not gate(paired((0.50, 0.09, 0.44, 0.37), (0.45, 0.58, 0.57, 0.88)),
                    "excludes-zero")[1]
    assert gate(paired((1.0, 1.2, 0.9, 1.5), (0.4, 0.6, 0.5, 0.9)), "excludes-zero")[1]
    # a gain exactly at its interval's half-width touches zero: not excluded
    assert not gate(paired((0.5, 1.0, 1.0, 1.0), (0.5, 0.1, 0.1, 0.1)), "excludes-zero")[1]


def test_bad_input_names_what_is_wrong():
    with pytest.raises(ValueError, match="lack the settings \\['10-way 5-shot'\\]"):
        gate({s: v for s, v in paired((1, 1, 1, 1)).items() if s != "10-way 5-shot"})
    with pytest.raises(ValueError, match="require='all'"):
        gate(paired((1, 1, 1, 1)), "all")


def test_main_exits_with_the_verdict(tmp_path, capsys):
    path = tmp_path / "gain.json"
    path.write_text(json.dumps({"paired_gain": paired((1.0, 1.0, 1.0, 0.2))}))
    assert main([str(path)]) == 0
    assert main([str(path), "--require", "excludes-zero"]) == 1
    out = capsys.readouterr().out
    assert "10-way 5-shot +0.20 ± 0.50 -> fails" in out and "-> passes" in out
