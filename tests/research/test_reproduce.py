"""The reproduction harness, end to end at a tiny budget on the real ESC-50."""

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from research.reproduce import cli as reproduce
from research.reproduce.features import main as main_features
from research.reproduce.paper import SETTING_NAMES
from research.reproduce.run import _config


@pytest.mark.esc50
def test_reproduce_quick_end_to_end(esc50_root, tmp_path, capsys, monkeypatch):
    out = tmp_path / "rep"
    reproduce.main(["--quick", "--data-home", str(esc50_root), "--out", str(out),
                    "--sweep", "1000", "3000", "--floor", "--device", "cpu"])
    res = json.loads((out / "results.json").read_text())
    assert set(res["models"]) == {"baseline", "halluaudio", "time_concept"}
    for _kind, entry in res["models"].items():
        assert set(entry["mean"]) == set(SETTING_NAMES)
        for _s, v in entry["mean"].items():
            assert 0 <= v["accuracy"] <= 100 and v["ci95"] > 0
        assert entry["untrained"] is not None
    # paired gain on the same episodes: with one seed, the mean of the clips' paired
    # differences is exactly the difference of the two accuracies
    base = res["models"]["baseline"]["per_seed"][0]["test"]
    for kind in ("halluaudio", "time_concept"):
        gain = res["models"][kind]["paired_gain"]
        mine = res["models"][kind]["per_seed"][0]["test"]
        for s in SETTING_NAMES:
            assert gain[s]["gain"] == pytest.approx(
                mine[s]["accuracy"] - base[s]["accuracy"], abs=1e-9)
            assert gain[s]["ci95_clips"] > 0 and gain[s]["seeds"] == [0]
    # Figure 3: 5-way K-shot, K = 1..5, from the same episodes' seed; its K = 1 and K = 5
    # points are the table's (same embeddings, same seed, same protocol)
    for kind in ("baseline", "halluaudio", "time_concept"):
        curve = res["models"][kind]["k_shot"]
        assert list(curve) == [f"5-way {k}-shot" for k in range(1, 6)]
        for s in ("5-way 1-shot", "5-way 5-shot"):
            assert curve[s]["accuracy"] == pytest.approx(
                res["models"][kind]["mean"][s]["accuracy"], abs=1e-9)
        assert ("gain" in curve["5-way 3-shot"]) == (kind != "baseline")
    hk = res["models"]["halluaudio"]["k_shot"]["5-way 3-shot"]
    bk = res["models"]["baseline"]["k_shot"]["5-way 3-shot"]
    assert hk["gain"] == pytest.approx(hk["accuracy"] - bk["accuracy"], abs=1e-9)
    # the features and the training settings are recorded
    assert res["config"]["logmel"]["n_fft"] == 1024 and res["config"]["mask_fill"] == "nan"
    assert res["config"]["time_shift_per"] == "clip" and res["peak_rss_gib"] > 0
    assert res["features_stored_as"] == "float32"
    assert 0 < res["timings_s"]["seed0_done_since_start"] <= res["timings_s"]["total"]
    assert [r["split_hz"] for r in res["sweep"]] == [1000, 3000]
    assert res["config"]["split_hz"] in (1000, 3000)
    fi = res["models"]["halluaudio"]["per_seed"][0]["frequency_importance"]
    assert set(fi) == {"vacuum_cleaner", "sneezing", "thunderstorm", "crow", "glass_breaking",
                       "church_bells", "cow", "dog", "airplane", "engine"}
    md = (out / "results.md").read_text()
    assert "| HalluAudio | 5-way 1-shot |" in md and "QUICK RUN" in md
    assert "Figure 3: 5-way K-shot" in md
    for png in ("frequency_importance.png", "split_sweep.png", "accuracy_vs_paper.png",
                "k_shot.png"):
        assert (out / png).stat().st_size > 1000
    # HalluAudio minus the time concept, paired, beside the paper's difference
    assert "| HalluAudio - time concept (seeds [0]) |" in md
    # the report can be redrawn from results.json alone (no models, no features)
    (out / "results.md").unlink()
    assert reproduce.main(["--stage", "report", "--out", str(out)]) == 0
    redrawn = (out / "results.md").read_text()
    assert "Report redrawn from results.json" in redrawn
    assert redrawn.split("\n", 6)[6] == md.split("\n", 5)[5]  # the rest is unchanged
    with pytest.raises(FileNotFoundError, match="needs a finished run's results.json"):
        reproduce.main(["--stage", "report", "--out", str(tmp_path / "nothing")])
    log = capsys.readouterr().out
    assert "epoch" in log and "time_left" in log and "valid_acc" in log
    _check_resume_and_test_stage(esc50_root, out, res, md, capsys, monkeypatch)


def _check_resume_and_test_stage(esc50_root, out, res, md, capsys, monkeypatch):
    """After a quick run into ``out``: a rerun resumes, the test stage reloads."""
    # a rerun with the same settings resumes: the finished models are loaded, not retrained
    # (--per-view-weight shapes only multi-view models: the baseline is still the same)
    reproduce.main(["--quick", "--data-home", str(esc50_root), "--out", str(out),
                    "--models", "baseline", "--split-hz", str(res["config"]["split_hz"]),
                    "--per-view-weight", "0", "--device", "cpu"])
    rerun = capsys.readouterr().out
    assert "finished before" in rerun and "training on" not in rerun
    # the test stage reloads the saved models instead of training; at another commit the
    # report says which models that commit did not train
    first = res["models"]["baseline"]["per_seed"][0]["trained_at"]
    assert first == {"commit": res["commit"], "loaded": False}
    assert "Trained at another commit" not in md
    monkeypatch.setenv("SKLEARN_HALLU_COMMIT", "f" * 40)
    reproduce.main(["--quick", "--data-home", str(esc50_root), "--out", str(out),
                    "--stage", "test", "--models", "baseline", "--device", "cpu"])
    again = json.loads((out / "results.json").read_text())
    assert again["models"]["baseline"]["mean"] == res["models"]["baseline"]["mean"]
    assert again["models"]["baseline"]["per_seed"][0]["trained_at"] == {
        "commit": res["commit"], "loaded": True}
    # a model is never tested under another checkpoint rule than the one that kept it
    with pytest.raises(ValueError, match="kept by checkpoint='best_after_last_drop', and "
                                         "this run has checkpoint='best'"):
        reproduce.main(["--quick", "--data-home", str(esc50_root), "--out", str(out),
                        "--stage", "test", "--models", "baseline", "--device", "cpu",
                        "--checkpoint", "best"])
    flagged = (out / "results.md").read_text()
    assert f"**Trained at another commit** (loaded, not retrained by this run): baseline " \
           f"seed 0 at `{res['commit']}`" in flagged


@pytest.mark.esc50
def test_merge_equals_one_run_over_all_seeds(esc50_root, tmp_path):
    common = ["--quick", "--data-home", str(esc50_root), "--features-cache",
              str(tmp_path / "feats.npz"), "--models", "baseline", "halluaudio",
              "--split-hz", "2000", "--device", "cpu"]
    whole = tmp_path / "whole"
    reproduce.main([*common, "--out", str(whole), "--seeds", "0", "1"])
    parts = []
    for seed in (0, 1):  # each seed tested in its own folder (its models copied there)
        part = tmp_path / f"seed{seed}"
        (part / "models").mkdir(parents=True)
        for f in (whole / "models").glob(f"*_seed{seed}.*"):
            shutil.copy(f, part / "models" / f.name)
        reproduce.main([*common, "--out", str(part), "--seeds", str(seed), "--stage", "test"])
        parts.append(str(part))
    merged = tmp_path / "merged"
    reproduce.main(["--stage", "merge", "--merge", *parts[::-1], "--out", str(merged)])
    one = json.loads((whole / "results.json").read_text())
    got = json.loads((merged / "results.json").read_text())
    assert got["seeds"] == [0, 1] and [m["seeds"] for m in got["merged_from"]] == [[0], [1]]
    for kind in ("baseline", "halluaudio"):
        for key in ("mean", "k_shot"):
            assert got["models"][kind][key] == one["models"][kind][key]
        for a, b in zip(got["models"][kind]["per_seed"], one["models"][kind]["per_seed"],
                        strict=True):  # the parts loaded what the whole run trained
            assert a.pop("trained_at") == {**b.pop("trained_at"), "loaded": True}
            assert a == b
    gain = got["models"]["halluaudio"]["paired_gain"]
    assert gain == one["models"]["halluaudio"]["paired_gain"]
    assert gain["5-way 1-shot"]["seeds"] == [0, 1]
    md = (merged / "results.md").read_text()
    assert "Merged from 2 runs" in md and "summed over the 2 merged runs" in md
    # a merged folder merges again, its sources kept (a third seed joins the first two)
    part2 = tmp_path / "seed2"
    reproduce.main([*common, "--out", str(part2), "--seeds", "2"])
    reproduce.main(["--stage", "merge", "--merge", str(merged), str(part2),
                    "--out", str(tmp_path / "all")])
    three = json.loads((tmp_path / "all" / "results.json").read_text())
    assert [m["seeds"] for m in three["merged_from"]] == [[0], [1], [2]]
    assert three["models"]["halluaudio"]["paired_gain"]["5-way 1-shot"]["seeds"] == [0, 1, 2]
    assert isinstance(three["commit"], str)  # one commit: no list of lists
    # refusals: a seed in two runs; an --out holding another run; an interrupted run
    with pytest.raises(ValueError, match="seed 0 of baseline is in both"):
        reproduce.main(["--stage", "merge", "--merge", parts[0], str(whole),
                        "--out", str(tmp_path / "x")])
    with pytest.raises(ValueError, match="holds another run's results.json"):
        reproduce.main(["--stage", "merge", "--merge", *parts, "--out", str(whole)])
    cut = json.loads((part2 / "results.json").read_text())
    cut["models"]["halluaudio"]["per_seed"] = []  # stopped before HalluAudio's seed 2
    (part2 / "results.json").write_text(json.dumps(cut))
    with pytest.raises(ValueError, match=r"halluaudio lacks seeds \[2\].*interrupted"):
        reproduce.main(["--stage", "merge", "--merge", parts[0], str(part2),
                        "--out", str(tmp_path / "w")])
    other = json.loads((Path(parts[1]) / "results.json").read_text())
    other["config"]["epochs"] += 1
    (Path(parts[1]) / "results.json").write_text(json.dumps(other))
    with pytest.raises(ValueError, match="config 'epochs' is 2 in one and 3"):
        reproduce.main(["--stage", "merge", "--merge", *parts, "--out", str(tmp_path / "y")])
    with pytest.raises(ValueError, match="needs --merge"):
        reproduce.main(["--stage", "merge", "--out", str(tmp_path / "z")])
    with pytest.raises(FileNotFoundError, match="no results.json there"):
        reproduce.main(["--stage", "merge", "--merge", parts[0], str(tmp_path / "none"),
                        "--out", str(tmp_path / "z")])


def _cfg(*argv):
    """The run settings that ``reproduce`` builds from ``argv`` (no data read)."""
    cfg = _config(reproduce.build_parser().parse_args([*argv, "--device", "cpu"]))
    return {**cfg, "n_mels": 128, "n_frames": 160, "val_classes": [6, 12, 23, 24, 37]}


def test_train_way_reaches_every_model_and_keeps_older_models():
    from research.reproduce.experiments import recipe_key, reproduce_model

    assert _cfg()["train_way"] == 5
    cfg = _cfg("--train-way", "20")
    for kind in ("baseline", "halluaudio"):
        model = reproduce_model(kind, cfg, 0, 2000.0)
        clf = model[-1] if hasattr(model, "steps") else model
        assert (clf.n_way, clf.k_shot, clf.val_n_way) == (20, 5, 5)
    # the recipe file of a model saved before --train-way existed (5-way, no key; copied
    # from docs/results/cpu_long_per_view/models/baseline_seed0.json) still matches the
    # recipe of a run with its checkpoint rule (`best`, the default until stop 39, recorded
    # by no key); a 20-way run's does not, nor a run with today's default rule
    logmel = {"crop": "start", "dtype": "float32", "duration": 5.0, "fmax": 8000.0,
              "fmin": 0.0, "hop_length": 502, "htk": False, "n_fft": 1024, "n_mels": 128,
              "ref": "max", "sr": 16000, "top_db": 80.0}
    saved = (
        '{"channels": [64, 64, 64], "crop_views": false, "episodes": 30, "epochs": 63, '
        '"kind": "baseline", "logmel": {"crop": "start", "dtype": "float32", "duration": 5.0, '
        '"fmax": 8000.0, "fmin": 0.0, "hop_length": 502, "htk": false, "n_fft": 1024, '
        '"n_mels": 128, "ref": "max", "sr": 16000, "top_db": 80.0}, "lr_step": 21, '
        '"mask_fill": "nan", "n_frames": 160, "n_mels": 128, "per_view_weight": 0.0, '
        '"pooling": "time_mean", "recipe": "long", "seed": 0, "split_hz": 2000.0, '
        '"time_shift": true, "time_shift_per": "clip", "val_classes": [6, 12, 23, 24, 37], '
        '"val_episodes": 300}')
    old = _cfg("--checkpoint", "best")
    assert recipe_key("baseline", {**old, "logmel": logmel}, 0, 2000.0) == saved
    assert recipe_key("baseline", {**_cfg(), "logmel": logmel}, 0, 2000.0) != saved
    assert recipe_key("baseline", {**cfg, "logmel": logmel}, 0, 2000.0) != saved
    from research.reproduce.report import markdown_table

    results = {"config": {**cfg, "split_hz": 2000.0}, "models": {}, "sweep": None,
               "quick": False, "seeds": [0], "command": "x", "commit": "c", "machine": {},
               "timings_s": {"total": 1.0}, "peak_rss_gib": 1.0}
    md = markdown_table(results)
    assert "(20-way 5-shot)" in md and "Features: read from a cache" not in md
    # features cached in a rounded form are said so
    md = markdown_table({**results, "features_stored_as": "float16"})
    assert "Features: read from a cache that stores them as float16" in md


def test_commit_variable_wins(monkeypatch):
    from research.reproduce.report import git_commit

    monkeypatch.setenv("SKLEARN_HALLU_COMMIT", "abc123")
    assert git_commit() == "abc123"


def test_embedding_norm_reaches_the_models_and_upgrades_loaded_ones(small_views):
    from research.reproduce.experiments import _with_embedding_norm, reproduce_model

    from ..conftest import tiny_clf

    for value, expected in (("centered_l2", "centered_l2"), ("none", None)):
        cfg = _cfg("--embedding-norm", value)
        assert cfg["embedding_norm"] == expected
        model = reproduce_model("halluaudio", cfg, 0, 2000.0)
        assert model[-1].embedding_norm == expected
    X, y = small_views
    fitted = tiny_clf(max_epochs=1, validation_classes=[0, 1]).fit(X, y)
    saved = tiny_clf(max_epochs=1, validation_classes=[0, 1], embedding_norm=None).fit(X, y)
    del saved.embedding_mean_, saved.embedding_scale_  # as a model saved by 0.1.0
    got = _with_embedding_norm(saved, {"embedding_norm": "centered_l2", "val_classes": [0, 1]},
                               X, y)
    assert got.embedding_norm == "centered_l2"  # and its statistics are those fit computes
    np.testing.assert_allclose(got.embedding_mean_, fitted.embedding_mean_, rtol=1e-4,
                               atol=1e-5)
    assert abs(got.embedding_scale_ - fitted.embedding_scale_) < 1e-4 * fitted.embedding_scale_
    np.testing.assert_allclose(got.embed(X), fitted.embed(X), rtol=1e-4, atol=1e-5)


def test_merge_refuses_options_it_would_ignore(tmp_path):
    base = ["--stage", "merge", "--merge", "a", "b", "--out", str(tmp_path / "m")]
    with pytest.raises(ValueError, match="--seeds would be ignored. Leave it out"):
        reproduce.main([*base, "--seeds", "3"])
    with pytest.raises(ValueError, match="--models, --quick would be ignored. Leave them"):
        reproduce.main([*base, "--models", "baseline", "--quick"])
    with pytest.raises(FileNotFoundError):  # the defaults pass on to the runs' folders
        reproduce.main(base)


def test_runs_older_than_embedding_norm_merge_only_with_raw_runs():
    from research.reproduce.merge import _check_compatible

    old = ("old", {"config": {"epochs": 63}, "models": {}})  # no embedding_norm recorded
    raw = ("raw", {"config": {"epochs": 63, "embedding_norm": None}, "models": {}})
    centred = ("c", {"config": {"epochs": 63, "embedding_norm": "centered_l2"}, "models": {}})
    _check_compatible([old, raw])
    with pytest.raises(ValueError, match="'embedding_norm' is absent .* 'centered_l2'"):
        _check_compatible([old, centred])


@pytest.mark.parametrize("run", ["cpu_long_centered", "cpu_long_centered_time"])
def test_committed_report_redraws_identically(run):
    # the report is a function of results.json: the README's runs redraw byte for byte
    from research.reproduce.report import markdown_table

    folder = Path(__file__).resolve().parents[2] / "docs" / "results" / run
    results = json.loads((folder / "results.json").read_text())
    assert markdown_table(results).strip() == (folder / "results.md").read_text().strip()


@pytest.mark.esc50
def test_lever_cache_leaves_the_test_classes_out_and_reads_as_a_cache(esc50_root, tmp_path,
                                                                      capsys):
    from research.reproduce.features import load_features, write_lever_cache
    from sklearn_hallu.datasets import esc50_class_split

    out, home = tmp_path / "f16.npz", str(esc50_root)
    main_features([str(out), "--data-home", home, "--quick"])
    z = np.load(out)
    assert z["X"].dtype == np.float16 and z["X"].shape == (480, 128, 160)
    assert not np.isin(z["target"], esc50_class_split()["test"]).any()
    capsys.readouterr()
    feats = load_features(home, str(out), quick=True)  # read as the cache, not recomputed
    assert "loading cache" in capsys.readouterr().out
    full = load_features(home, None, quick=True)
    keep = ~np.isin(full["target"], esc50_class_split()["test"])
    np.testing.assert_array_equal(feats["filenames"], full["filenames"][keep])
    assert np.abs(feats["X"].astype(np.float32) - full["X"][keep]).max() <= 0.05  # dB
    assert write_lever_cache(home, tmp_path / "f32.npz", dtype="float32", quick=True) == 480
    np.testing.assert_array_equal(np.load(tmp_path / "f32.npz")["X"], full["X"][keep])
    # a reproduction refuses it: it has no test class
    with pytest.raises(SystemExit, match=r"no clip of class\(es\) \[.*\], which this split"):
        reproduce.main(["--quick", "--data-home", home, "--out", str(tmp_path / "run"),
                        "--features-cache", str(out)])


def test_library_recipes_are_the_reproductions():
    """``recipe_params(NAME)`` gives the classifier that ``reproduce --recipe NAME`` trains,
    for every recipe and preset of the reproduction: every parameter but the run's own."""
    from research.reproduce.experiments import reproduce_model
    from research.reproduce.run import PRESETS, RECIPES
    from sklearn_hallu import HalluAudioClassifier
    from sklearn_hallu.classifier import RECIPE_NAMES, recipe_params

    assert set(RECIPE_NAMES) == set(RECIPES) | set(PRESETS)
    run_only = {"random_state", "verbose", "validation_classes", "device"}
    for name in RECIPE_NAMES:
        model = reproduce_model("halluaudio", _cfg("--recipe", name), 0, 2000.0)
        want = model[-1].get_params(deep=False)
        got = HalluAudioClassifier(**recipe_params(name)).get_params(deep=False)
        differ = {k: (got[k], want[k]) for k in want if k not in run_only and got[k] != want[k]}
        assert not differ, (name, differ)
