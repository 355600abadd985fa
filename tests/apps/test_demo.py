"""The README's main job, `make demo` (python -m sklearn_hallu.apps.demo), on the real ESC-50."""

import json

import pytest

from sklearn_hallu.apps import demo


@pytest.mark.esc50
def test_demo_runs_and_writes_its_outputs(esc50_root, tmp_path, capsys):
    # the Makefile's command with a tiny budget: the same code path, seconds not minutes
    out = tmp_path / "demo"
    assert demo.main(["--data-home", str(esc50_root), "--out", str(out), "--epochs", "1",
                      "--channels", "4,4,4", "--repeats", "1"]) == 0
    res = json.loads((out / "demo.json").read_text())
    models = [k for k in res if k not in ("wall_time_s", "command")]
    assert sorted(models) == ["HalluAudio", "baseline"]
    for name in models:
        assert res[name]["fit_s"] > 0
        for s in ("5-way 1-shot", "5-way 5-shot"):
            v = res[name][s]
            assert 20 <= v["accuracy"] <= 100 and v["ci95"] > 0, (name, s)  # chance 20
    assert (out / "demo.png").stat().st_size > 1000
    printed = capsys.readouterr().out
    assert "summary (accuracy % ± 95% CI)" in printed and "picture:" in printed
