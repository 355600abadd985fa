"""research.rule1l: the late checkpoint rule on a screen's per-epoch probe scores."""

import json

import numpy as np
import pytest

from research.rule1l import late_probe, main, rule1l


def run(seed, valid, probe, lr_step, variant="v"):
    """A run record: per-epoch ``valid_acc``, learning rate (divided by 10 every
    ``lr_step`` epochs) and per-clip probe scores (``probe[e]``: one array per epoch)."""
    hist = [{"epoch": e + 1, "valid_acc": v, "event_lr": 0.01 * 0.1 ** (e // lr_step),
             "probe_5w1s": list(p), "probe_5w5s": list(p)}
            for e, (v, p) in enumerate(zip(valid, probe))]
    return {"variant": variant, "seed": seed, "lr_step": lr_step, "history": hist}


def test_late_rule_sees_a_longer_schedule_where_best_of_all_cannot():
    rng = np.random.default_rng(0)
    clips = 200
    early = [rng.uniform(0.5, 0.7, clips) for _ in range(4)]
    # one seed, the same first 4 epochs in both arms (the reference drops at epoch 5, the
    # lever at 9); validation peaks at epoch 2 in both, so `best` keeps the same network
    ref_valid = [0.5, 0.9, 0.6, 0.6, 0.7, 0.7, 0.72, 0.71]
    lev_valid = ref_valid[:4] + [0.6, 0.6, 0.6, 0.6, 0.7, 0.8, 0.75, 0.7, 0.7, 0.7, 0.7, 0.7]
    ref_probe = early + [np.full(clips, 0.6)] * 4
    lev_probe = early + [np.full(clips, 0.6)] * 4 + [np.full(clips, x) for x in
                                                     (0.7, 0.8, 0.7, 0.7, 0.7, 0.7, 0.7, 0.7)]
    ref, lev = run(0, ref_valid, ref_probe, 4), run(0, lev_valid, lev_probe, 8)
    assert late_probe(ref)[0] == 7  # best valid_acc from epoch 5 on
    assert late_probe(lev)[0] == 10  # best from epoch 9 on
    gain, passed = rule1l([lev], [ref])
    assert gain["gain"] == pytest.approx(20.0) and passed
    assert gain["epochs"] == [(10, 7)]
    # the reverse is a loss, and no gain at all fails
    assert not rule1l([ref], [lev])[1]
    assert not rule1l([ref], [ref])[1]


def test_a_gain_inside_the_clip_noise_fails():
    rng = np.random.default_rng(1)
    base = rng.uniform(0, 1, 50)
    noisy = np.clip(base + rng.normal(0.002, 0.2, 50), 0, 1)
    ref = run(0, [0.5, 0.6], [base, base], 1)
    lev = run(0, [0.5, 0.6], [base, noisy], 1)
    gain, passed = rule1l([lev], [ref])
    assert abs(gain["gain"]) < gain["ci95_clips"] and not passed


def test_clear_errors(tmp_path, capsys):
    ok = run(0, [0.5], [np.ones(3)], 1)
    with pytest.raises(ValueError, match="seed 1 of the lever is paired with seed 0"):
        rule1l([run(1, [0.5], [np.ones(3)], 1)], [ok])
    bare = {"variant": "v", "seed": 0, "lr_step": 1, "history": [{"valid_acc": 0.5}]}
    with pytest.raises(ValueError, match="no per-epoch probe_5w1s, probe_5w5s: train it"):
        rule1l([bare], [ok])
    with pytest.raises(FileNotFoundError, match="no run record .*v_seed3.json: train seed 3"):
        main(["--lever", str(tmp_path / "v"), "--reference", str(tmp_path / "r"),
              "--seeds", "3"])
    # the command line reads run records and exits 0 on a pass
    lev = run(2, [0.5, 0.6], [np.zeros(40), np.ones(40)], 1)
    ref = run(2, [0.5, 0.6], [np.zeros(40), np.zeros(40)], 1)
    (tmp_path / "v_seed2.json").write_text(json.dumps(lev))
    (tmp_path / "r_seed2.json").write_text(json.dumps(ref))
    assert main(["--lever", str(tmp_path / "v"), "--reference", str(tmp_path / "r"),
                 "--seeds", "2"]) == 0
    out = capsys.readouterr().out
    assert "+100.00 ± 0.00" in out and "kept epochs (lever, reference) 2/2" in out
    assert out.rstrip().endswith("passes rule 1L")
