"""Research scripts whose output the results page quotes (imported from research/)."""

import importlib
import json
from pathlib import Path

import pytest

from research.reproduce.paper import SETTING_NAMES

ROOT = Path(__file__).resolve().parents[2]


def _script(name):
    return importlib.import_module(f"research.{name}")


def _run(folder, kind, per_clip_by_seed, repeats=50):
    """A minimal results.json: one model, per-clip accuracies per seed."""
    per_seed = [{"seed": seed, "test": {s: {"accuracy": 100 * sum(c) / len(c), "per_clip": c,
                                            "per_class": {"0": 1.0, "3": 1.0},
                                            "n_queries": 50 * len(c)} for s in SETTING_NAMES}}
                for seed, c in per_clip_by_seed.items()]
    res = {"config": {"val_classes": [6], "repeats": repeats, "n_mels": 128, "n_frames": 160,
                      "logmel": {"n_fft": 1024, "dtype": "float32"}},
           "quick": False, "command": "c", "commit": "0" * 40, "machine": {"device": "cpu"},
           "models": {kind: {"per_seed": per_seed}}}
    folder.mkdir()
    (folder / "results.json").write_text(json.dumps(res))
    return f"{folder}:{kind}"


def test_cross_run_gain_pairs_clips_and_refuses_other_episodes(tmp_path):
    cross = _script("cross_run_gain")
    model = _run(tmp_path / "a", "halluaudio", {0: [1, 1, 0, 1], 1: [1, 0, 0, 1]})
    base = _run(tmp_path / "b", "baseline", {0: [0, 1, 0, 1], 1: [1, 0, 0, 1], 2: [1, 1, 1, 1]})
    cross.main(["--model", model, "--baseline", base, "--out", str(tmp_path / "out")])
    gain = json.loads((tmp_path / "out" / "gain.json").read_text())["paired_gain"]
    g = gain["5-way 1-shot"]
    assert g["seeds"] == [0, 1] and g["per_seed"] == pytest.approx([25.0, 0.0])
    assert g["gain"] == pytest.approx(12.5)
    md = (tmp_path / "out" / "gain.md").read_text()
    assert "| 5-way 1-shot | 62.50 | 50.00 | +12.50 |" in md  # seed 2 of b left out
    # the spread over the same seeds: sd of 75 and 50, of 50 and 50
    assert "| 5-way 1-shot | 17.68 | 0.00 |" in md
    other = _run(tmp_path / "c", "baseline", {0: [0, 1, 0, 1]}, repeats=20)
    with pytest.raises(SystemExit, match="tested differently.*repeats"):
        cross.main(["--model", model, "--baseline", other, "--out", str(tmp_path / "x")])
    fewer = _run(tmp_path / "d", "baseline", {0: [0, 1, 0]})
    with pytest.raises(SystemExit, match="test clips of seed 0"):
        cross.main(["--model", model, "--baseline", fewer, "--out", str(tmp_path / "y")])


def test_cross_run_gain_record_files_the_gain_in_the_model_run(tmp_path):
    cross = _script("cross_run_gain")
    model = _run(tmp_path / "a", "baseline", {0: [1, 1, 0, 1], 1: [1, 0, 0, 1]})
    base = _run(tmp_path / "b", "baseline", {0: [0, 1, 0, 1], 1: [1, 0, 0, 1]})
    other = _run(tmp_path / "c", "baseline", {0: [0, 0, 0, 1], 1: [0, 0, 0, 1]})
    (tmp_path / "a" / "results.md").write_text("# run a\n\ntable\n")
    cross.main(["--model", model, "--baseline", base, "--out", str(tmp_path / "out")])
    assert "paired_gains" not in json.loads((tmp_path / "a" / "results.json").read_text())
    for _ in range(2):  # filed twice: one entry per baseline, one section, no repeats
        cross.main(["--model", model, "--baseline", base, "--out", str(tmp_path / "o1"),
                    "--record"])
    cross.main(["--model", model, "--baseline", other, "--out", str(tmp_path / "o2"),
                "--record"])
    res = json.loads((tmp_path / "a" / "results.json").read_text())
    assert [e["baseline"] for e in res["paired_gains"]] == [base, other]
    assert res["paired_gains"][0]["paired_gain"]["5-way 1-shot"]["gain"] == pytest.approx(12.5)
    assert res["paired_gains"][1]["paired_gain"]["5-way 1-shot"]["gain"] == pytest.approx(37.5)
    assert res["paired_gains"][0]["command"].endswith("--record")
    assert res["models"]["baseline"]["per_seed"][0]["seed"] == 0  # the run itself kept
    md = (tmp_path / "a" / "results.md").read_text()
    assert md.startswith("# run a\n\ntable\n") and md.count(cross.RECORD_HEADING) == 1
    assert "| 5-way 1-shot | +12.50 ± " in md and "| 5-way 1-shot | +37.50 ± " in md


def _ablation_run(runs, variant, val, probe):
    """A finished ablation run: ``val`` and ``probe`` accuracy (0-1) at its best epoch."""
    hist = [{"epoch": 1, "valid_acc": 0.1, "event_lr": 0.01,
             "probe_5w1s": [0.0] * 4, "probe_5w5s": [0.0] * 4},
            {"epoch": 2, "valid_acc": 0.9, "event_lr": 0.01,
             "probe_5w1s": [probe] * 4, "probe_5w5s": [probe] * 4}]
    (runs / f"{variant}_seed0.json").write_text(json.dumps({
        "variant": variant, "seed": 0, "probe_classes": [22], "lr_step": 7, "history": hist,
        "per_clip": {"5w1s": [val] * 4, "5w5s": [val] * 4}}))


def _choose(ablation, tmp_path, capsys, *argv):
    """What ``ablation.py choose`` picks (its last output line)."""
    ablation.main(["choose", *argv, "--out", str(tmp_path)])
    return capsys.readouterr().out.strip().splitlines()[-1]


def test_ablation_choose_needs_both_splits(tmp_path, capsys):
    ablation = _script("ablation")
    runs = tmp_path / "runs"
    runs.mkdir()
    for variant in ("base_ref", "hallu_per_view"):
        _ablation_run(runs, variant, val=0.6, probe=0.5)
    for variant in ("base_way20", "hallu_pv_way20"):
        _ablation_run(runs, variant, val=0.7, probe=0.6)
    assert _choose(ablation, tmp_path, capsys) == "20"
    _ablation_run(runs, "hallu_pv_way20", val=0.9, probe=0.3)  # better on one split only
    assert _choose(ablation, tmp_path, capsys) == "5"


def test_ablation_choose_shot_scores_one_shot_only(tmp_path, capsys):
    ablation = _script("ablation")
    runs = tmp_path / "runs"
    runs.mkdir()
    for variant in ("base_ref", "hallu_per_view"):
        _ablation_run(runs, variant, val=0.6, probe=0.5)
    for variant in ("base_shot1", "hallu_pv_shot1"):
        _ablation_run(runs, variant, val=0.7, probe=0.6)
    assert _choose(ablation, tmp_path, capsys, "--factor", "shot") == "1"
    # worse on 5w1s's probe split than 5-shot training: the default stays
    run = json.loads((runs / "base_shot1_seed0.json").read_text())
    run["history"][1]["probe_5w1s"] = [0.2] * 4
    (runs / "base_shot1_seed0.json").write_text(json.dumps(run))
    assert _choose(ablation, tmp_path, capsys, "--factor", "shot") == "5"
    # 5w5s does not count for the shot: 1-shot training that loses every 5w5s still wins
    for variant in ("base_shot1", "hallu_pv_shot1"):
        _ablation_run(runs, variant, val=0.7, probe=0.6)
        r = json.loads((runs / f"{variant}_seed0.json").read_text())
        r["per_clip"]["5w5s"] = [0.0] * 4
        r["history"][1]["probe_5w5s"] = [0.0] * 4
        (runs / f"{variant}_seed0.json").write_text(json.dumps(r))
    assert _choose(ablation, tmp_path, capsys, "--factor", "shot") == "1"


def test_reference_seeds_changes_only_the_seed_lines():
    ref_seeds = _script("reference_seeds")
    ref = ROOT.parent / "shared" / "reference" / "ref_protonet.py"
    if not ref.is_file():
        pytest.fail(f"the reference script is not at {ref}: the tests expect the project "
                    "cloned beside ../shared (as CI does)")
    source = ref.read_text()
    assert ref_seeds.seeded_copy(source, 0) == source  # seed 0 is the published run
    changed = [(a, b) for a, b in zip(source.splitlines(), ref_seeds.seeded_copy(
        source, 3).splitlines()) if a != b]
    assert [b.strip() for _, b in changed] == ["torch.manual_seed(3)",
                                               "rng = np.random.RandomState(4)"]
    with pytest.raises(SystemExit, match="occurs 0 times"):
        ref_seeds.seeded_copy(source.replace("torch.manual_seed(0)", "torch.manual_seed(7)"), 1)


def test_ablation_choose_init_scores_halluaudio_alone(tmp_path, capsys):
    ablation = _script("ablation")
    runs = tmp_path / "runs"
    runs.mkdir()
    _ablation_run(runs, "hallu_per_view", val=0.6, probe=0.5)
    _ablation_run(runs, "hallu_pv_init_base", val=0.62, probe=0.52)
    assert _choose(ablation, tmp_path, capsys, "--factor", "init") == "base_ref"
    _ablation_run(runs, "hallu_pv_init_base", val=0.7, probe=0.49)
    assert _choose(ablation, tmp_path, capsys, "--factor", "init") == "none"


def test_reference_seeds_summary(tmp_path):
    ref_seeds = _script("reference_seeds")
    runs = [{"seed": s, "steps": 1300, "best_val": 80.0, "best_step": 900,
             "test": {k: {"acc": a, "ci95": 1.0} for k in ref_seeds.SETTINGS}}
            for s, a in ((0, 68.0), (1, 70.0), (2, 72.0))]
    args = type("Args", (), {"model": "A", "budget": 1200.0, "out": str(tmp_path)})()
    ref_seeds.summarize(runs, args, "ab" * 32)
    out = json.loads((tmp_path / "summary.json").read_text())
    assert out["mean"]["5w1s"] == pytest.approx(70.0)
    assert out["ci95_seeds"]["5w1s"] == pytest.approx(4.303 * 2 / 3 ** 0.5, abs=1e-3)
    assert out["paper_lower_bound"]["5w1s"] == pytest.approx(69.15)
    md = (tmp_path / "summary.md").read_text()
    assert "| mean ± t-interval over seeds | | | 70.00 ± 4.97 |" in md


def test_embedding_norm_rule_needs_both_splits(monkeypatch):
    import argparse

    import numpy as np

    mod = _script("embedding_norm")
    args = argparse.Namespace(out="o", variants=["base_ref", "hallu_per_view"], seeds=[0, 1])

    def res(gain_val, gain_probe):  # per-clip accuracies: raw 0.5, centred 0.5 + gain
        acc = {"None": {"validation": 0.5, "probe": 0.5},
               "centered_l2": {"validation": 0.5 + gain_val, "probe": 0.5 + gain_probe}}
        return {v: {n: {sp: {s: {k: np.full(10, a) for k in mod.KEYS} for s in args.seeds}
                        for sp, a in by_split.items()} for n, by_split in acc.items()}
                for v in args.variants}

    s = mod.summarise(res(0.1, 0.02), args, 0.0)
    assert s["chosen"] == "centered_l2"
    assert s["centered_minus_raw"][0]["probe 5w1s"]["gain"] == pytest.approx(2.0)
    assert s["model_gains"][0]["variant"] == "hallu_per_view - base_ref"
    assert mod.summarise(res(0.1, -0.01), args, 0.0)["chosen"] is None
    md = mod.markdown(s)
    assert "**centered_l2**" in md
    lines = md.splitlines()
    seps = [i for i, line in enumerate(lines) if line.startswith("|---")]
    assert len(seps) == 3 and all(lines[i].count("|") == lines[i - 1].count("|") for i in seps)


def _curve_run(variant, seed, valid, val_acc, probe_acc, more=None, lr_step=3):
    """A run whose per-epoch scores are constant over its 10 clips (synthetic)."""
    hist = []
    for e, v in enumerate(valid):
        row = {"epoch": e + 1, "valid_acc": v, "event_lr": 0.01 * 0.1 ** (e // lr_step),
               "valid_acc_more": (more or valid)[e]}
        for k in ("5w1s", "5w5s"):
            row[f"val_{k}"] = [val_acc[e]] * 10
            row[f"probe_{k}"] = [probe_acc[e]] * 10
        hist.append(row)
    return {"variant": variant, "seed": seed, "lr_step": lr_step, "history": hist}


def test_checkpoint_rule_needs_both_splits():
    mod = _script("checkpoint_rules")
    # valid_acc peaks early by noise (epoch 2); later epochs are better on both splits
    valid = [0.5, 0.9, 0.6, 0.7, 0.7, 0.8, 0.8, 0.8, 0.8]
    good = [0.5, 0.55, 0.6, 0.7, 0.7, 0.75, 0.8, 0.8, 0.8]
    s = mod.summarise([_curve_run("base_ref", 0, valid, good, good)])
    rows = {r["rule"]: r for r in s["rows"]}
    assert rows["best"]["epochs"] == [2] and rows["last"]["epochs"] == [9]
    assert rows["best_after_last_drop"]["epochs"] == [7]  # first best at the final lr
    assert s["early"][0]["early"] and s["early"][0]["probe cost"] == pytest.approx(-25.0)
    assert s["chosen"] in ("last", "best_after_last_drop")
    # better on validation only: best stays
    worse = [0.5, 0.55, 0.4, 0.4, 0.4, 0.4, 0.4, 0.4, 0.4]
    s2 = mod.summarise([_curve_run("base_ref", 0, valid, good, worse)])
    assert s2["chosen"] == "best"
    md = mod.markdown(s, "o")
    assert "Chosen by the rule: **" in md and "| best | 2 |" in md


def test_pair_takes_both_splits_at_the_kept_epoch_and_common_seeds(tmp_path, capsys):
    pair = _script("pair")
    runs = tmp_path / "runs"
    runs.mkdir()
    _ablation_run(runs, "hallu_pv_wide128", val=0.75, probe=0.5)
    _ablation_run(runs, "base_wide128", val=0.5, probe=0.25)
    pair.main(["--out", str(tmp_path), "--pairs", "hallu_pv_wide128:base_wide128"])
    rows = {(r["split"], r["setting"]): r for r in json.loads(
        (tmp_path / "pairs.json").read_text())["rows"]}
    assert rows[("val", "5w1s")]["gain"] == pytest.approx(25.0)
    assert rows[("probe", "5w5s")]["gain"] == pytest.approx(25.0)  # epoch 2 kept, not 1
    assert rows[("probe", "5w5s")]["seeds"] == [0]
    with pytest.raises(SystemExit, match="no seed has runs of both"):
        pair.main(["--out", str(tmp_path), "--pairs", "hallu_pv_wide128:base_ref"])
    with pytest.raises(SystemExit):
        pair.main(["--out", str(tmp_path), "--pairs", "hallu_pv_wide128"])
    assert "VARIANT_A:VARIANT_B" in capsys.readouterr().err


def test_width_variants_build_the_wider_backbone():
    import argparse

    ablation = _script("ablation")
    args = argparse.Namespace(epochs=1, episodes=1, lr_step=1, channels=64, device="cpu",
                              threads=1, verbose=0, out="unused")
    for name, width in (("base_ref", 64), ("base_wide256", 256), ("hallu_pv_wide128", 128)):
        kind, cfg = ablation.variant_config(name)
        model = ablation.build(kind, cfg, args, 0, [6])
        clf = model[-1] if hasattr(model, "steps") else model
        assert clf.channels == (width,) * 3, name
    assert ablation.reference_of("hallu_pv_wide128") == "hallu_per_view"


def test_saved_run_gives_the_record_model_and_probe_mask(tmp_path):
    import joblib
    import numpy as np

    ablation = _script("ablation")
    split = {"train": list(range(10)), "validation": [10, 11]}
    probe = ablation.probe_classes(split, 2)
    (tmp_path / "runs").mkdir()
    (tmp_path / "models").mkdir()
    (tmp_path / "runs" / "v_seed3.json").write_text(json.dumps({"probe_classes": probe}))
    joblib.dump({"weights": [1, 2]}, tmp_path / "models" / "v_seed3.joblib")
    y = np.repeat(np.arange(12), 2)
    run, model, mask = ablation.saved_run(tmp_path, "v", 3, y, split)
    assert run["probe_classes"] == probe and model == {"weights": [1, 2]}
    assert sorted(set(y[mask])) == probe and mask.sum() == 4
    with pytest.raises(SystemExit, match=r"no .*v_seed4\.json: train it first with "
                                         r"`python -m research\.ablation run"):
        ablation.saved_run(tmp_path, "v", 4, y, split)
    (tmp_path / "runs" / "v_seed4.json").write_text(json.dumps({"probe_classes": []}))
    with pytest.raises(SystemExit, match=r"no .*models/v_seed4\.joblib: train it first"):
        ablation.saved_run(tmp_path, "v", 4, y, split)
    joblib.dump({}, tmp_path / "models" / "v_seed4.joblib")
    with pytest.raises(SystemExit, match=r"v_seed4\.json has no probe classes: .*--probe 5"):
        ablation.saved_run(tmp_path, "v", 4, y, split)


def test_command_line_writes_paths_in_the_clone_relative(tmp_path, monkeypatch):
    from research._cli import ROOT, command_line

    monkeypatch.chdir(tmp_path)
    line = command_line("research.pair", ["--out", str(ROOT / "research" / "results" / "x"),
                                          "--data", str(tmp_path / "d"), "--other", "/elsewhere/y",
                                          "--seeds", "0", "1"])
    assert line == ("python -m research.pair --out research/results/x --data d "
                    "--other /elsewhere/y --seeds 0 1")
    monkeypatch.setattr("sys.argv", ["prog", "--seeds", "3"])
    assert command_line("research.pair") == "python -m research.pair --seeds 3"


def test_command_line_from_a_worktree_writes_the_main_clone_relative(tmp_path, monkeypatch):
    """A queue runs from a frozen worktree and writes into the main clone: its paths are
    recorded relative to the main clone, as a user would type them there."""
    import research._cli as cli

    main, frozen = tmp_path / "main", tmp_path / "frozen"
    (main / ".git" / "worktrees" / "frozen").mkdir(parents=True)
    frozen.mkdir()
    (frozen / ".git").write_text(f"gitdir: {main / '.git' / 'worktrees' / 'frozen'}\n")
    assert cli.main_clone(frozen) == main
    assert cli.main_clone(main) is None  # a clone's own .git is a folder
    (tmp_path / "odd").mkdir()
    (tmp_path / "odd" / ".git").write_text("gitdir: /somewhere/else\n")
    assert cli.main_clone(tmp_path / "odd") is None
    monkeypatch.chdir(frozen)
    monkeypatch.setattr(cli, "main_clone", lambda: main)
    line = cli.command_line("research.pair", ["--out", str(main / "research" / "r"),
                                              "--cache", str(main / ".gpu" / "f.npz"),
                                              "--data", "/elsewhere/d"])
    assert line == "python -m research.pair --out research/r --cache .gpu/f.npz --data /elsewhere/d"


def test_every_variant_setting_reaches_the_estimator():
    """A variant's key that ``build`` drops would train the reference under the lever's
    name: each key is an estimator parameter set to the variant's value, or one of the
    settings ``build`` consumes otherwise."""
    import argparse

    from research.ablation import NOT_ESTIMATOR_KEYS, build
    from research.variants import VARIANTS, variant_config

    args = argparse.Namespace(epochs=2, episodes=3, lr_step=1, channels=8, device="cpu",
                              threads=1, verbose=0, out="unused")
    for name in VARIANTS:
        kind, cfg = variant_config(name)
        if cfg.get("init_whole_from"):
            cfg = {k: v for k, v in cfg.items() if k != "init_whole_from"}
        model = build(kind, cfg, args, 0, [1, 2, 3, 4, 5])
        clf = model.named_steps["clf"] if hasattr(model, "named_steps") else model
        params = clf.get_params()
        for key, value in cfg.items():
            if key in NOT_ESTIMATOR_KEYS:
                continue
            assert key in params, f"{name}: {key!r} is not passed to the estimator"
            got = params[key]
            want = tuple(value) if isinstance(value, list) else value
            assert got == want, f"{name}: {key}={value!r} but the estimator has {got!r}"
    kind, cfg = variant_config("base_tpool1")
    assert build(kind, cfg, args, 0, [1, 2, 3, 4, 5]).time_pool == (4, 4, 1)
    kind, cfg = variant_config("base_tpool1_f2")
    clf = build(kind, cfg, args, 0, [1, 2, 3, 4, 5])
    assert clf.time_pool == (4, 4, 1) and clf.freq_pool == (4, 4, 2)
    kind, cfg = variant_config("base_tpool1_long4x")
    assert build(kind, cfg, args, 0, [1, 2, 3, 4, 5]).time_pool == (4, 4, 1)
    assert cfg["epochs_factor"] == 4
