"""The transfer study's summaries and the levers' choice (research/transfer, research/ablation)."""

import json

import numpy as np
import pytest
import soundfile as sf

from research import ablation
from research.transfer import curve, study


def _curve_run(runs, variant, seed, init, epochs, best):
    """An ablation run with transfer curves: per-clip accuracies before and per epoch."""
    hist = []
    for e, acc in enumerate(epochs, 1):
        row = {"epoch": e, "valid_acc": 0.5}
        for key in ("5w1s", "5w5s"):
            row[f"xfer_words_{key}"] = acc
            if e == 1:
                row[f"xfer_words_init_{key}"] = init
        hist.append(row)
    (runs / f"{variant}_seed{seed}.json").write_text(json.dumps(
        {"variant": variant, "seed": seed, "best_epoch": best, "history": hist}))


def test_curve_summary_pairs_the_kept_epoch_with_the_untrained_network(tmp_path):
    runs = tmp_path / "runs"
    runs.mkdir()
    init = [0.5, 0.5, 0.0, 1.0]
    _curve_run(runs, "base_ref", 0, init, [[0.5, 1.0, 0.0, 1.0], [0.0, 0.5, 0.0, 1.0]], best=1)
    _curve_run(runs, "base_ref", 1, init, [[1.0, 1.0, 0.0, 1.0], [0.5, 0.5, 0.0, 1.0]], best=2)
    # a run that scored its kept checkpoint after training reads that instead
    kept_run = json.loads((runs / "base_ref_seed1.json").read_text())
    kept_run["history"][-1]["xfer_words_kept_5w1s"] = [0.5, 0.5, 0.0, 1.0]
    kept_run["history"][-1]["xfer_words_kept_5w5s"] = [0.5, 0.5, 0.0, 1.0]
    (runs / "base_ref_seed1.json").write_text(json.dumps(kept_run))
    (runs / "other_seed0.json").write_text(json.dumps(  # no curves: left out
        {"variant": "other", "seed": 0, "best_epoch": 1, "history": [{"epoch": 1}]}))
    s = curve.curve_summary(tmp_path)
    r = s["base_ref"]["words"]["5w1s"]
    assert list(s) == ["base_ref"] and r["seeds"] == [0, 1]
    assert r["untrained"] == pytest.approx(50.0)
    # kept: seed 0 epoch 1 (mean 0.625), seed 1 its kept scores (0.5); gains +12.5 and 0
    assert r["kept"] == pytest.approx(56.25)
    assert r["kept_per_seed"] == pytest.approx([12.5, 0.0])
    assert r["kept_gain"] == pytest.approx(6.25)
    assert r["last_gain"] == pytest.approx((-12.5 + 0.0) / 2)
    assert r["curve"] == pytest.approx([68.75, 43.75])
    md = curve.curve_markdown(s, "cmd")
    assert "| base_ref | words | 5w1s | 2 | 50.00 | 56.25 | +6.25 ±" in md
    assert "68.75 (1)" in md
    curve.plot_curves(s, tmp_path / "c.png")
    assert (tmp_path / "c.png").stat().st_size > 0


def test_curve_report_without_curves_says_how_to_make_them(tmp_path):
    (tmp_path / "runs").mkdir()
    with pytest.raises(SystemExit, match="--transfer-curve"):
        curve.main(["--out", str(tmp_path)])


def test_run_models_finds_a_merged_runs_models_where_its_seeds_ran(tmp_path):
    for s in (1, 0):
        (tmp_path / f"s{s}" / "models").mkdir(parents=True)
        for kind in ("halluaudio", "baseline"):
            (tmp_path / f"s{s}" / "models" / f"{kind}_seed{s}.joblib").write_bytes(b"")
    merged = tmp_path / "merged"
    merged.mkdir()
    sources = [{"out": str(tmp_path / f"s{s}"), "seeds": [s]} for s in (1, 0)]
    (merged / "results.json").write_text(json.dumps({"config": {}, "merged_from": sources}))
    results, found = study.run_models(merged, ["halluaudio"])
    assert [(k, s) for k, s, _ in found] == [("halluaudio", 0), ("halluaudio", 1)]
    assert found[0][2] == tmp_path / "s0" / "models" / "halluaudio_seed0.joblib"
    assert len(study.run_models(merged)[1]) == 4
    (merged / "results.json").write_text(json.dumps({"config": {}}))  # not merged: own models
    with pytest.raises(FileNotFoundError, match="no models in"):
        study.run_models(merged)


def test_task_clips_reads_class_folders_and_needs_five_classes(tmp_path):
    for c in "abcd":
        (tmp_path / c).mkdir()
        for i in range(2):
            sf.write(tmp_path / c / f"{i}.wav", np.zeros(160, dtype=np.float32), 16000)
    (tmp_path / "a" / "notes.txt").write_text("not audio")
    with pytest.raises(ValueError, match="4 class folders.*at least 5"):
        study.task_clips(tmp_path)
    (tmp_path / "e").mkdir()
    sf.write(tmp_path / "e" / "0.wav", np.zeros(160, dtype=np.float32), 16000)
    paths, labels = study.task_clips(tmp_path)
    assert len(paths) == 9 and list(labels[:2]) == ["a", "a"] and labels[-1] == "e"


def _lever_run(runs, variant, seed, val, probe):
    hist = [{"epoch": 1, "valid_acc": 0.9, "event_lr": 0.01,
             "probe_5w1s": [probe] * 4, "probe_5w5s": [probe] * 4}]
    (runs / f"{variant}_seed{seed}.json").write_text(json.dumps({
        "variant": variant, "seed": seed, "probe_classes": [22], "lr_step": 7,
        "history": hist, "per_clip": {"5w1s": [val] * 4, "5w5s": [val] * 4}}))


def test_a_lever_is_kept_only_when_it_wins_both_splits(tmp_path, capsys):
    runs = tmp_path / "runs"
    runs.mkdir()

    def choose():
        ablation.main(["choose", "--factor", "specaug_base", "--out", str(tmp_path)])
        return capsys.readouterr().out.strip().splitlines()[-1]

    for seed in (0, 1):
        _lever_run(runs, "base_ref", seed, val=0.6, probe=0.5)
        _lever_run(runs, "base_specaug", seed, val=0.7, probe=0.45)  # better on one split
    assert choose() == "off"
    _lever_run(runs, "base_specaug", 1, val=0.7, probe=0.7)  # mean probe now 0.575 > 0.5
    assert choose() == "on"


@pytest.mark.esc50
def test_study_pairs_a_trained_model_with_its_untrained_twin(esc50_root, tmp_path):
    from research.reproduce import cli as reproduce

    run = tmp_path / "run"
    reproduce.main(["--quick", "--data-home", str(esc50_root), "--out", str(run),
                    "--models", "baseline", "--seeds", "0", "--device", "cpu"])
    task = tmp_path / "tones"
    rng = np.random.RandomState(0)
    t = np.arange(16000) / 16000
    for c, hz in enumerate((300, 600, 1200, 2400, 4800)):
        (task / f"c{c}").mkdir(parents=True)
        for i in range(7):
            wave = np.sin(2 * np.pi * hz * (1 + 0.02 * i) * t) + 0.1 * rng.randn(len(t))
            sf.write(task / f"c{c}" / f"{i}.wav", (0.3 * wave).astype(np.float32), 16000)
    out = tmp_path / "out"
    study.main(["--run", str(run), "--tasks", str(task), "--out", str(out),
                "--data-home", str(esc50_root), "--repeats", "2"])
    rec = json.loads((out / "transfer.json").read_text())
    r = rec["summary"]["baseline"]["tones"]["5-way 1-shot"]
    seed0 = rec["per_model"]["baseline"]["0"]["tones"]["5-way 1-shot"]
    assert r["seeds"] == [0] and rec["tasks"]["tones"] == {"clips": 35, "classes": 5}
    assert r["gain"] == pytest.approx(seed0["trained"] - seed0["untrained"])
    assert 0 <= r["untrained"] <= 100 and len(seed0["trained_per_clip"]) == 35
    assert "| baseline | tones | 5-way 1-shot | 1 |" in (out / "transfer.md").read_text()


@pytest.mark.esc50
def test_kernel_spread_runs_each_setting_in_its_own_environment(esc50_root, tmp_path):
    from research import kernel_spread

    out = tmp_path / "ks"
    kernel_spread.main(["--quick", "--data-home", str(esc50_root), "--out", str(out),
                        "--settings", "default", "aten_avx2", "default#2"])
    rec = json.loads((out / "kernel_spread.json").read_text())
    rows = rec["rows"]
    assert rows["aten_avx2"]["torch_cpu_capability"] == "AVX2"  # the child saw its env
    assert rows["default#2"]["same_history_as_default"] is True  # one machine repeats
    assert rows["default#2"]["5-way 1-shot"] == rows["default"]["5-way 1-shot"]
    assert rows["default#2"]["trajectory"] == rows["default"]["trajectory"] == 1
    # a repeat adds no spread: counted once
    assert rec["n_trajectories"] == len({r["trajectory"] for r in rows.values()})
    assert "| aten_avx2 | ATEN_CPU_CAPABILITY=avx2 |" in (out / "kernel_spread.md").read_text()


def test_finetune_reads_step_zero_as_the_plain_prototype_rule():
    import torch

    from research import finetune

    torch.manual_seed(0)
    module = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(1 * 4 * 160, 8))
    Xs = torch.randn(5, 3, 1, 4, 160)  # 5-way 3-shot
    Xq = Xs[2, 0] + 0.01 * torch.randn(1, 4, 160)  # nearly a clip of class 2
    with torch.no_grad():
        emb = module(Xs.reshape(15, 1, 4, 160)).reshape(5, 3, -1).mean(1)
        plain = int(finetune._sq_logits(module(Xq[None]), emb).argmax())
    before = [p.detach().clone() for p in module.parameters()]
    preds = finetune.finetune_scores(module, Xs, Xq, (0, 3), np.random.RandomState(0))
    assert preds[0] == plain and set(preds) == {0, 3}
    assert any(not torch.equal(a, b) for a, b in zip(before, module.parameters()))
    sup, qry, tgt = finetune._pseudo_split(Xs, 4, 5, 3, np.random.RandomState(0))
    assert sup.shape == (5, 2, 1, 4, 160) and torch.equal(qry, Xs[:, 1])  # step 4: clip 1
    one = Xs[:, :1]
    sup, qry, _ = finetune._pseudo_split(one, 0, 5, 1, np.random.RandomState(0))
    assert torch.equal(sup, one) and not torch.equal(qry, one[:, 0])  # a shifted copy
    # the inner loop of research.protomaml: plain SGD; with lr 0 nothing moves
    frozen = [p.detach().clone() for p in module.parameters()]
    finetune.finetune_scores(module, Xs, Xq, (2,), np.random.RandomState(0), lr=0.0,
                             momentum=0.0)
    assert all(torch.equal(a, b) for a, b in zip(frozen, module.parameters()))


def test_finetune_with_the_centred_metric_scores_as_the_library_does(small_views):
    import torch

    from research import finetune

    from ..conftest import tiny_clf

    X, y = small_views
    clf = tiny_clf(max_epochs=1).fit(X, y)
    metric = finetune.centred_metric(clf)
    raw = torch.from_numpy(clf.set_params(embedding_norm=None).embed(X[:6]))
    lib = clf.set_params(embedding_norm="centered_l2").embed(X[:6])
    np.testing.assert_allclose(metric(raw).numpy(), lib, rtol=1e-4, atol=1e-5)
    # step 0 with the metric is the library's nearest prototype
    module = clf.net_.module_.eval()
    views = torch.from_numpy(np.asarray(X[:, None] if X.ndim == 3 else X, dtype=np.float32))
    classes = np.unique(y)[:2]
    idx = np.concatenate([np.flatnonzero(y == c)[:2] for c in classes])
    Xs = views[idx].reshape(2, 2, *views.shape[1:])
    q = int(np.flatnonzero(y == classes[1])[2])
    emb = clf.embed(np.concatenate([X[idx], X[q:q + 1]]))
    protos = emb[:4].reshape(2, 2, -1).mean(1)
    before = [p.detach().clone() for p in module.parameters()]
    preds = finetune.finetune_scores(module, Xs, views[q], (0, 2), np.random.RandomState(0),
                                     metric)
    assert preds[0] == int(((emb[4] - protos) ** 2).sum(-1).argmin())
    # steps take gradients through the metric and move the weights
    assert any(not torch.equal(a, b) for a, b in zip(before, module.parameters()))


def test_reproduce_records_the_new_training_settings_only_when_set():
    from research.reproduce.cli import build_parser
    from research.reproduce.run import _config

    old = _config(build_parser().parse_args(["--device", "cpu", "--checkpoint", "best"]))
    assert not {"spec_augment", "pretrain_epochs", "checkpoint"} & set(old)  # old keys kept
    # today's default rule is recorded: models kept by 'best' (no key) are not reused
    plain = _config(build_parser().parse_args(["--device", "cpu"]))
    assert plain["checkpoint"] == "best_after_last_drop"
    assert not {"spec_augment", "pretrain_epochs", "time_pool", "freq_pool"} & set(plain)
    cfg = _config(build_parser().parse_args(
        ["--device", "cpu", "--spec-augment", "2,16,2,8", "--pretrain-epochs", "30",
         "--time-pool", "4,4,1", "--freq-pool", "4,4,2"]))
    assert cfg["time_pool"] == [4, 4, 1] and cfg["freq_pool"] == [4, 4, 2]
    assert cfg["spec_augment"] == {"freq": [2, 16], "time": [2, 8]}
    assert cfg["pretrain_epochs"] == 30 and cfg["checkpoint"] == "best_after_last_drop"
    from research.reproduce.experiments import reproduce_model

    clf = reproduce_model("baseline", {**cfg, "n_mels": 128, "n_frames": 160,
                                       "val_classes": [6], "mask_fill": "nan"}, 0, 2000.0)
    assert clf.spec_augment == cfg["spec_augment"] and clf.pretrain_epochs == 30
    assert clf.time_pool == (4, 4, 1) and clf.freq_pool == (4, 4, 2)
    with pytest.raises(SystemExit, match="four integers"):
        _config(build_parser().parse_args(["--device", "cpu", "--spec-augment", "2,16"]))
    with pytest.raises(SystemExit, match=r"--freq-pool '4,x,2': give one integer per conv"):
        _config(build_parser().parse_args(["--device", "cpu", "--freq-pool", "4,x,2"]))
    preset = _config(build_parser().parse_args(["--device", "cpu", "--recipe",
                                                "long_tpool_tta8"]))
    assert preset["time_pool"] == [4, 4, 1] and preset["test_time_shifts"] == 8
    assert preset["recipe"] == "long" and preset["epochs"] == 63
    with pytest.raises(SystemExit, match="one integer per conv block"):
        _config(build_parser().parse_args(["--device", "cpu", "--time-pool", "4,x,1"]))


def test_reproduce_test_time_shifts_reuse_the_models(small_views):
    from research.reproduce.cli import build_parser
    from research.reproduce.experiments import _with_embedding_norm, recipe_key
    from research.reproduce.report import _extras_text
    from research.reproduce.run import _config

    from ..conftest import tiny_clf

    plain = _config(build_parser().parse_args(["--device", "cpu", "--checkpoint", "best"]))
    assert "test_time_shifts" not in plain
    tta = _config(build_parser().parse_args(["--device", "cpu", "--test-time-shifts", "8",
                                             "--checkpoint", "best"]))
    assert tta["test_time_shifts"] == 8
    assert _extras_text(tta) == "test time shifts 8, " and _extras_text(plain) == ""
    late = _config(build_parser().parse_args(["--device", "cpu"]))
    assert _extras_text(late) == "checkpoint best_after_last_drop, "
    # a prediction setting: the saved models of a plain run are reused
    assert recipe_key("baseline", tta, 0, 2000.0) == recipe_key("baseline", plain, 0, 2000.0)
    with pytest.raises(SystemExit):
        build_parser().parse_args(["--test-time-shifts", "0"])
    X, y = small_views
    clf = tiny_clf(max_epochs=1).fit(X, y)
    before = clf.embedding_mean_.copy()
    _with_embedding_norm(clf, {**tta, "val_classes": [0]}, X, y)
    assert clf.test_time_shifts == 8 and clf.embedding_stats_shifts_ == 8
    assert not np.allclose(clf.embedding_mean_, before)  # the centre of the shifted clips
    np.testing.assert_allclose(clf.embedding_mean_, clf.set_params(embedding_norm=None)
                               .embed(X[y != 0]).mean(0), rtol=1e-4, atol=1e-5)


def test_reproduce_class_split_option():
    from research.reproduce.cli import build_parser, dispatch
    from research.reproduce.report import _extras_text
    from research.reproduce.run import _config

    plain = _config(build_parser().parse_args(["--device", "cpu"]))
    other = _config(build_parser().parse_args(["--device", "cpu", "--class-split", "3"]))
    assert other["class_split"] == 3 and "not the paper's split" in _extras_text(other)
    assert "class_split" not in plain
    with pytest.raises(ValueError, match="--class-split 3 .*--dataset kaggle18"):
        dispatch(build_parser().parse_args(["--dataset", "kaggle18", "--class-split", "3"]))
    with pytest.raises(ValueError, match="--class-split, --test-time-shifts would be ignored"):
        dispatch(build_parser().parse_args(["--stage", "merge", "--merge", "a", "b",
                                            "--class-split", "2", "--test-time-shifts", "4"]))


def test_test_stage_refuses_a_model_of_another_class_split(tmp_path):
    from research.reproduce.cli import build_parser
    from research.reproduce.experiments import fit_or_load, recipe_key
    from research.reproduce.run import _config

    cfg = {**_config(build_parser().parse_args(["--device", "cpu", "--class-split", "2"])),
           "val_classes": [1, 2, 3, 4, 5], "n_mels": 8, "n_frames": 8}
    path = tmp_path / "baseline_seed0.joblib"
    path.write_bytes(b"not read")
    paper = {k: v for k, v in cfg.items() if k != "class_split"}
    path.with_suffix(".json").write_text(recipe_key("baseline", {**paper, "val_classes": [6]},
                                                    0, 2000.0))
    with pytest.raises(ValueError, match=r"class_split=None.*class_split=2.*train one"):
        fit_or_load("baseline", cfg, 0, 2000.0, None, None, path, stage="test", timings={},
                    tag="t")


@pytest.mark.parametrize("pooling", ["time_mean", "time_mean_max", "time_mean_std"])
def test_layer_embeddings_end_with_the_models_own_embedding(small_logmel, pooling):
    import torch

    from research.transfer import layers
    from sklearn_hallu import HalluAudioClassifier

    S, y = small_logmel
    S = np.concatenate([S] * 5, axis=-1)  # 3 time cells after the last block
    clf = HalluAudioClassifier(n_way=4, k_shot=2, n_query=2, max_epochs=1, channels=(8, 8, 8),
                               random_state=0, n_threads=1, pooling=pooling).fit(S, y)
    parts = layers.block_embeddings(clf, S[:7], batch=3)
    with torch.no_grad():
        own = clf.net_.module_(torch.from_numpy(S[:7, None].astype(np.float32))).numpy()
    np.testing.assert_allclose(parts["block3"], own, rtol=1e-5, atol=1e-6)
    assert parts["block1"].shape[1] == 8 * ((S.shape[1] + 3) // 4)  # 8 channels x mel bins
    unit = layers.centred_l2(parts, layers.centre_of(parts))
    assert np.allclose(np.linalg.norm(unit["block2"], axis=1), 1.0)
    assert unit["all"].shape[1] == sum(parts[k].shape[1] for k in ("block1", "block2",
                                                                   "block3"))
    # test-time augmentation: the mean over evenly spaced circular shifts
    two = layers.tta_embeddings(clf, S[:7], 2, batch=3)
    rolled = layers.block_embeddings(clf, np.roll(S[:7], S.shape[-1] // 2, axis=-1), batch=3)
    np.testing.assert_allclose(two["block3"], (parts["block3"] + rolled["block3"]) / 2,
                               rtol=1e-6)
    np.testing.assert_array_equal(layers.tta_embeddings(clf, S[:7], 1, batch=3)["block2"],
                                  parts["block2"])


def test_layer_embeddings_of_a_deeper_backbone_end_with_its_last_block(small_logmel):
    import torch

    from research.transfer import layers
    from sklearn_hallu import HalluAudioClassifier

    S, y = small_logmel
    S = np.concatenate([S] * 5, axis=-1)
    clf = HalluAudioClassifier(n_way=4, k_shot=2, n_query=2, max_epochs=1,
                               channels=(8, 8, 8, 8), time_pool=(4, 4, 1, 1),
                               freq_pool=(4, 4, 1, 4), random_state=0, n_threads=1).fit(S, y)
    parts = layers.block_embeddings(clf, S[:7], batch=3)
    with torch.no_grad():
        own = clf.net_.module_(torch.from_numpy(S[:7, None].astype(np.float32))).numpy()
    # "block3" is block 4's output, the model's own embedding, not block 3's
    np.testing.assert_allclose(parts["block3"], own, rtol=1e-5, atol=1e-6)
    assert parts["block1"].shape[1] == 8 * ((S.shape[1] + 3) // 4)
    shallow = HalluAudioClassifier(n_way=4, k_shot=2, n_query=2, max_epochs=1,
                                   channels=(8, 8), random_state=0, n_threads=1).fit(S, y)
    with pytest.raises(ValueError, match="reads 3 blocks; this backbone has 2"):
        layers.block_embeddings(shallow, S[:7])


def test_sqrt_norm_takes_the_root_before_centring():
    from research.transfer import layers

    rng = np.random.RandomState(0)
    parts = {k: rng.gamma(0.5, size=(6, 4)) for k in ("block1", "block2", "block3")}
    base = {k: rng.gamma(0.5, size=(9, 4)) for k in parts}
    got = layers.NORMS["sqrt_centred_l2"](parts, base)
    c = np.sqrt(parts["block3"]) - np.sqrt(base["block3"]).mean(axis=0)
    np.testing.assert_allclose(got["block3"], c / np.linalg.norm(c, axis=1, keepdims=True))
    # the other norms are unchanged by the option
    np.testing.assert_array_equal(layers.NORMS["raw"](parts, base)["block2"], parts["block2"])
    np.testing.assert_array_equal(layers.NORMS["centred_l2"](parts, base)["block1"],
                                  layers.centred_l2(parts, layers.centre_of(base))["block1"])
    # the batch centre is the scored clips' own mean: the base clips do not enter it
    batch = layers.NORMS["batch_centred_l2"](parts, base)
    c = parts["block2"] - parts["block2"].mean(axis=0)
    np.testing.assert_allclose(batch["block2"], c / np.linalg.norm(c, axis=1, keepdims=True))
    other_base = {k: v + 5.0 for k, v in base.items()}
    np.testing.assert_array_equal(layers.NORMS["batch_centred_l2"](parts, other_base)["all"],
                                  batch["all"])


def test_joined_depths_normalise_each_block_on_its_own():
    from research.transfer import layers

    rng = np.random.RandomState(2)
    parts = {k: rng.normal(size=(5, d)) * s
             for k, d, s in (("block1", 3, 1.0), ("block2", 4, 100.0), ("block3", 2, 0.01))}
    base = {k: rng.normal(size=(8, e.shape[1])) for k, e in parts.items()}
    cl2 = layers.NORMS["centred_l2"](parts, base)
    np.testing.assert_array_equal(cl2["block23"],
                                  np.concatenate([cl2["block2"], cl2["block3"]], axis=1))
    # each block weighs the same whatever its scale: two unit halves
    np.testing.assert_allclose(np.linalg.norm(cl2["block23"], axis=1), np.sqrt(2.0))
    assert cl2["all"].shape[1] == 9
    np.testing.assert_array_equal(layers.NORMS["raw"](parts, base)["block23"],
                                  np.concatenate([parts["block2"], parts["block3"]], axis=1))
    with pytest.raises(SystemExit):  # support centring of a joined depth is refused
        layers.main(["--out", "x", "--tasks", "t", "--norms", "support_centred_l2",
                     "--depths", "block23"])


def test_support_centring_scores_the_layer_episodes():
    from research.transfer import layers
    from sklearn_hallu.sampling import paper_episodes

    rng = np.random.RandomState(1)
    y = np.repeat(np.arange(6), 7)  # 5-shot needs 5 others of the query's class
    emb = rng.normal(size=(42, 5)) + 3.0 * np.eye(6, 5)[y]
    got = layers.per_clip_support_centred(emb, y, passes=2)
    # brute force on the episodes episodic_accuracy draws with the same seed
    members = [np.flatnonzero(y == c) for c in range(6)]
    for n_way, k_shot in layers.SETTINGS:
        r = np.random.RandomState(layers.LAYER_SEED)
        hits = np.zeros((2, 42))
        for p in range(2):
            support, target = paper_episodes(y, members, n_way, k_shot, r)
            for i in range(42):
                sup = emb[support[i]]
                c = sup.reshape(-1, 5).mean(0)
                unit = (sup - c) / np.linalg.norm(sup - c, axis=-1, keepdims=True)
                q = (emb[i] - c) / np.linalg.norm(emb[i] - c)
                hits[p, i] = np.argmin(((q - unit.mean(1)) ** 2).sum(-1)) == target[i]
        np.testing.assert_allclose(got[f"{n_way}w{k_shot}s"], hits.mean(0))
    # a shift of every embedding (a domain offset) changes nothing
    moved = layers.per_clip_support_centred(emb + 50.0, y, passes=2)
    for key in got:
        np.testing.assert_allclose(moved[key], got[key])


def test_support_centring_uses_the_episodes_of_per_clip(monkeypatch):
    import sklearn_hallu.sampling as sampling
    from research.transfer import layers

    y = np.repeat(np.arange(6), 7)
    emb = np.random.RandomState(2).normal(size=(42, 5))
    seen = {"per_clip": [], "support": []}
    draw = sampling.paper_episodes

    def recorder(key):
        def record(*args):
            seen[key].append(draw(*args))
            return seen[key][-1]
        return record

    monkeypatch.setattr(sampling, "paper_episodes", recorder("per_clip"))
    monkeypatch.setattr(layers, "paper_episodes", recorder("support"))
    layers.per_clip(emb, y, passes=2)
    layers.per_clip_support_centred(emb, y, passes=2)
    assert len(seen["per_clip"]) == len(seen["support"]) == 2 * len(layers.SETTINGS)
    for (s1, t1), (s2, t2) in zip(seen["per_clip"], seen["support"]):
        np.testing.assert_array_equal(s1, s2)
        np.testing.assert_array_equal(t1, t2)


def test_a_pretrained_run_reads_its_untrained_network_from_the_plain_run(tmp_path):
    runs = tmp_path / "runs"
    runs.mkdir()
    _curve_run(runs, "base_pretrain", 0, [0.0, 0.0, 0.0, 0.0], [[0.5, 0.5, 0.5, 0.5]], best=1)
    pre = json.loads((runs / "base_pretrain_seed0.json").read_text())
    pre.update(model="baseline", config={"n_fft": 1024, "pretrain_epochs": 30})
    (runs / "base_pretrain_seed0.json").write_text(json.dumps(pre))
    with pytest.raises(SystemExit, match="reference variant"):
        curve.curve_summary(tmp_path)
    _curve_run(runs, "base_ref", 0, [1.0, 1.0, 0.0, 0.0], [[0.0, 0.0, 0.0, 0.0]], best=1)
    ref = json.loads((runs / "base_ref_seed0.json").read_text())
    ref.update(model="baseline", config={"n_fft": 1024})
    (runs / "base_ref_seed0.json").write_text(json.dumps(ref))
    s = curve.curve_summary(tmp_path)
    assert s["base_pretrain"]["words"]["5w1s"]["untrained"] == pytest.approx(50.0)
    assert s["base_pretrain"]["words"]["5w1s"]["kept_gain"] == pytest.approx(0.0)


def _cause_run(folder, variant, seed, init, kept, val, probe):
    """A run with a kept checkpoint scored on 'words', fresh validation and probe scores."""
    runs = folder / "runs"
    runs.mkdir(parents=True, exist_ok=True)
    row = {"epoch": 1, "valid_acc": 0.5}
    for key in ("5w1s", "5w5s"):
        row.update({f"xfer_words_{key}": kept, f"xfer_words_init_{key}": init,
                    f"xfer_words_kept_{key}": kept, f"probe_{key}": probe})
    (runs / f"{variant}_seed{seed}.json").write_text(json.dumps(
        {"variant": variant, "seed": seed, "best_epoch": 1, "history": [row],
         "per_clip": {"5w1s": val, "5w5s": val}}))


def test_cause_pairs_each_runs_gain_with_the_references_on_shared_seeds(tmp_path, capsys):
    from research.transfer import cause

    init = [0.5, 0.5, 0.5, 0.5]
    ref, new = tmp_path / "ref", tmp_path / "new"
    for seed in (0, 1, 2):  # the reference: no gain over untrained; 2 seeds of the new run
        _cause_run(ref, "base_ref", seed, init, init, [1.0, 1.0], [0.5, 0.5])
    for seed in (0, 1):
        _cause_run(new, "base_nfft2048", seed, init, [1.0, 0.5, 0.5, 0.5], [0.5, 1.0],
                   [0.5, 0.5])
    c = cause.compare_runs((new, "base_nfft2048"), (ref, "base_ref"))
    r = c["transfer"]["words"]["5w1s"]
    assert c["seeds"] == [0, 1]
    assert r["gain"] == pytest.approx(12.5) and r["reference_gain"] == pytest.approx(0.0)
    assert r["difference"] == pytest.approx(12.5)
    assert c["in_domain"]["validation"]["5w1s"]["difference"] == pytest.approx(-25.0)
    assert c["in_domain"]["probe"]["5w5s"]["difference"] == pytest.approx(0.0)
    # two seeds are a screen; the difference's interval over 4 clips includes zero here
    assert cause.verdict(c, "words") == "screen: does not meet rule 1"
    three = dict(c, seeds=[0, 1, 2])
    three["transfer"] = {"words": {k: dict(v, difference=3.0, difference_ci95=1.0)
                                   for k, v in c["transfer"]["words"].items()}}
    assert cause.verdict(three, "words") == "cause"
    three["transfer"]["words"]["5w1s"]["difference"] = -3.0
    assert cause.verdict(three, "words") == "not a cause"  # mean 0: below 2 points
    with pytest.raises(ValueError, match="share no seed"):
        _cause_run(tmp_path / "far", "base_ref", 7, init, init, [1.0], [1.0])
        cause.compare_runs((tmp_path / "far", "base_ref"), (ref, "base_ref"))
    odd = json.loads((new / "runs" / "base_nfft2048_seed0.json").read_text())
    odd["probe_passes"] = 3
    _write = tmp_path / "odd" / "runs"
    _write.mkdir(parents=True)
    (_write / "base_nfft2048_seed0.json").write_text(json.dumps(odd))
    with pytest.raises(ValueError, match="probe_passes differ"):
        cause.compare_runs((tmp_path / "odd", "base_nfft2048"), (ref, "base_ref"))
    with pytest.raises(SystemExit):
        cause.main(["--runs", "no-colon-here", "--out", str(tmp_path / "o")])
    assert "LABEL=FOLDER:VARIANT" in capsys.readouterr().err
    assert cause.main(["--runs", f"n={new}:base_nfft2048", "--reference", f"{ref}:base_ref",
                       "--out", str(tmp_path / "o"), "--task", "words"]) == 0
    assert "| n | 2 | [1, 1] | words | 5w1s | 50.00 | 62.50 | +12.50 ±" in (
        tmp_path / "o" / "cause.md").read_text()


def test_reproduce_recipe_preset_long_tta8_is_the_long_recipe_with_8_shifts():
    from research.reproduce.cli import build_parser
    from research.reproduce.experiments import recipe_key
    from research.reproduce.run import _config

    long = _config(build_parser().parse_args(["--device", "cpu"]))
    tta = _config(build_parser().parse_args(["--device", "cpu", "--recipe", "long_tta8"]))
    assert tta["recipe"] == "long" and tta["test_time_shifts"] == 8
    assert (tta["epochs"], tta["episodes"], tta["lr_step"]) == (63, 30, 21)
    # the long recipe's saved models are the preset's: only prediction differs
    assert recipe_key("baseline", tta, 0, 2000.0) == recipe_key("baseline", long, 0, 2000.0)
    own = _config(build_parser().parse_args(["--device", "cpu", "--recipe", "long_tta8",
                                             "--test-time-shifts", "4"]))
    assert own["test_time_shifts"] == 4  # the command line wins over the preset
    none = _config(build_parser().parse_args(["--device", "cpu", "--recipe", "long_tta8",
                                              "--test-time-shifts", "1"]))
    assert "test_time_shifts" not in none  # an explicit 1 undoes the preset's shifts
    given_one = _config(build_parser().parse_args(["--device", "cpu", "--test-time-shifts",
                                                   "1"]))
    assert "test_time_shifts" not in given_one  # 1 is the default: not recorded


def test_diff_pairs_the_trained_networks_of_two_studies(tmp_path):
    from research.transfer import diff

    def record(folder, trained, run="runs/x"):
        seeds = {str(s): {"words": {"5w1s": {"trained_per_clip": list(trained[s]),
                                             "untrained_per_clip": [0.5, 0.5, 0.5]}}}
                 for s in range(2)}
        (tmp_path / folder).mkdir()
        (tmp_path / folder / "transfer.json").write_text(json.dumps(
            {"run": run, "repeats": 20, "per_model": {"baseline": seeds}}))

    record("a", [[1, 1, 0], [1, 0, 0]])
    record("b", [[1, 0, 0], [1, 0, 0]])
    out = tmp_path / "a_vs_b.md"
    diff.main(["--model", str(tmp_path / "a"), "--reference", str(tmp_path / "b"),
               "--out", str(out)])
    rows = json.loads(out.with_suffix(".json").read_text())["rows"]
    trained = next(r for r in rows if r["network"] == "trained")
    assert trained["gain"] == pytest.approx(100 / 6)  # one clip of 3 gained, in one seed of 2
    assert next(r for r in rows if r["network"] == "untrained")["gain"] == 0
    record("c", [[1, 1, 1], [1, 1, 1]], run="runs/other")
    with pytest.raises(SystemExit, match="other models.*--other-models pairs"):
        diff.main(["--model", str(tmp_path / "c"), "--reference", str(tmp_path / "b"),
                   "--out", str(out)])
    # other models of the same seeds (e.g. another checkpoint rule) pair when asked,
    # with what training adds; not when their untrained twins saw other episodes
    diff.main(["--model", str(tmp_path / "c"), "--reference", str(tmp_path / "b"),
               "--out", str(out), "--other-models"])
    rows = json.loads(out.with_suffix(".json").read_text())["rows"]
    assert [r["network"] for r in rows] == ["trained", "untrained", "training"]
    assert rows[0]["gain"] == pytest.approx(200 / 3) and rows[1]["gain"] == 0  # 2 of 3 clips
    assert rows[2]["gain"] == pytest.approx(rows[0]["gain"])
    rec = json.loads((tmp_path / "c" / "transfer.json").read_text())
    rec["per_model"]["baseline"]["1"]["words"]["5w1s"]["untrained_per_clip"] = [0.5, 0, 1]
    (tmp_path / "c" / "transfer.json").write_text(json.dumps(rec))
    with pytest.raises(SystemExit, match="baseline seed 1, words 5w1s: the untrained twins "
                                         "score 2 of 3 clips differently"):
        diff.main(["--model", str(tmp_path / "c"), "--reference", str(tmp_path / "b"),
                   "--out", str(out), "--other-models"])
    # a near-tie flipped in one clip of many (another machine's rounding) still pairs
    a = {"per_model": {"k": {"0": {"t": {"s": {"untrained_per_clip": [0.5] * 200}}}}}}
    b = json.loads(json.dumps(a))
    b["per_model"]["k"]["0"]["t"]["s"]["untrained_per_clip"][7] = 0.55
    assert diff._check_twins(a, b) == (1, 200)
    b["per_model"]["k"]["0"]["t"]["s"]["untrained_per_clip"][8] = 0.55
    b["per_model"]["k"]["0"]["t"]["s"]["untrained_per_clip"][9] = 0.55
    with pytest.raises(SystemExit, match="score 3 of 200 clips differently"):
        diff._check_twins(a, b)
    # one kind against another within one study: the same episodes per seed
    rec = json.loads((tmp_path / "a" / "transfer.json").read_text())
    rec["per_model"]["halluaudio"] = json.loads(
        (tmp_path / "b" / "transfer.json").read_text())["per_model"]["baseline"]
    (tmp_path / "a" / "transfer.json").write_text(json.dumps(rec))
    diff.main(["--model", str(tmp_path / "a"), "--reference", str(tmp_path / "a"),
               "--kinds", "halluaudio", "baseline", "--out", str(out)])
    rows = json.loads(out.with_suffix(".json").read_text())["rows"]
    assert [r["network"] for r in rows] == ["trained", "untrained", "training"]
    assert {r["model"] for r in rows} == {"halluaudio"}
    assert rows[0]["gain"] == pytest.approx(-100 / 6)  # b's trained minus a's
    assert rows[2]["gain"] == pytest.approx(rows[0]["gain"] - rows[1]["gain"])
    # two runs holding copies of the same model files pair; other bytes do not
    for run, content in (("r1", b"net"), ("r2", b"net"), ("r3", b"other")):
        (tmp_path / run / "models").mkdir(parents=True)
        (tmp_path / run / "models" / "baseline_seed0.joblib").write_bytes(content)
    assert diff.same_models(str(tmp_path / "r1"), str(tmp_path / "r2"))
    assert not diff.same_models(str(tmp_path / "r1"), str(tmp_path / "r3"))


def test_layers_summary_keeps_per_seed_gains_in_seed_order():
    from research.transfer import layers

    key = ("spoken_words", "centred_l2", "block3", "5w1s")
    by_seed = {2: {"trained": np.array([1.0, 1.0]), "untrained": np.array([0.0, 0.0])},
               0: {"trained": np.array([0.5, 0.5]), "untrained": np.array([0.5, 0.5])}}
    (row,) = layers.summarise({"base_ref": {key: by_seed}})
    assert row["seeds"] == [0, 2]
    assert row["per_seed"] == pytest.approx([0.0, 100.0])
    assert row["gain"] == pytest.approx(50.0) and np.isfinite(row["ci95_seeds"])


def test_layers_render_writes_the_table_again_from_the_json(tmp_path):
    import json

    from research.transfer import layers

    row = {"variant": "base_ref", "split": "spoken_words", "norm": "centred_l2",
           "depth": "block3", "setting": "5w1s", "seeds": [0, 1, 2], "trained": 55.0,
           "untrained": 54.0, "gain": 1.0, "ci95_clips": 1.5}
    old = {**row, "split": "instruments"}  # written before the seed interval was kept
    (tmp_path / "t.json").write_text(json.dumps({"command": "python -m x --out y",
                                                 "summary": [{**row, "ci95_seeds": 4.25},
                                                             old]}))
    (tmp_path / "t.md").write_text("stale")
    layers.main(["render", str(tmp_path / "t.json")])
    md = (tmp_path / "t.md").read_text()
    assert "Command: `python -m x --out y`" in md
    assert "| +1.00 ± 1.50; ± 4.25 |" in md and "| +1.00 ± 1.50; ± n/a |" in md
    (tmp_path / "bad.json").write_text(json.dumps({"rows": []}))
    with pytest.raises(SystemExit, match="not a research.transfer.layers output"):
        layers.main(["render", str(tmp_path / "bad.json")])


def test_transfer_epochs_ranks_the_kept_epoch_against_the_gain(tmp_path):
    import json

    from research.transfer import epochs

    (tmp_path / "runs").mkdir()
    for seed, epoch in ((3, 10), (4, 40), (5, 25)):
        (tmp_path / "runs" / f"base_ref_seed{seed}.json").write_text(
            json.dumps({"best_epoch": epoch}))
    row = {"variant": "base_ref", "norm": "centred_l2", "depth": "block3", "seeds": [3, 4, 5],
           "split": "spoken_words", "setting": "5w1s", "per_seed": [3.0, -1.0, 1.0]}
    (tmp_path / "layers.json").write_text(json.dumps({"summary": [row]}))
    epochs.main(["--out", str(tmp_path)])
    md = (tmp_path / "layers_epochs.md").read_text()
    assert "| 4 | 40 | -1.00 |" in md and "-1.00 (0.00)" in md  # later kept, less transfer
    assert "| rho val (p) |" not in md  # no validation gains in this file
    val = {**row, "split": "val", "per_seed": [5.0, 30.0, 20.0]}  # seed 4 best in-domain
    (tmp_path / "layers.json").write_text(json.dumps({"summary": [row, val]}))
    epochs.main(["--out", str(tmp_path)])
    md = (tmp_path / "layers_epochs.md").read_text()
    assert "| rho val (p) | | -1.00 (0.00) |  |" in md  # ranked against itself: left blank
    del row["per_seed"]
    (tmp_path / "layers.json").write_text(json.dumps({"summary": [row]}))
    with pytest.raises(SystemExit, match="no per-seed gains"):
        epochs.main(["--out", str(tmp_path)])


def test_task_statistics_are_the_clips_own_batch_norm_statistics(small_logmel):
    # AdaBN: each batch norm's running mean and variance become the average of its batch
    # statistics over the clips, the weights and the given model untouched
    import torch

    from research.transfer import layers
    from sklearn_hallu import HalluAudioClassifier

    S, y = small_logmel
    clf = HalluAudioClassifier(n_way=4, k_shot=2, n_query=2, max_epochs=1, channels=(8, 8, 8),
                               random_state=0, n_threads=1).fit(S, y)
    before = {k: v.clone() for k, v in clf.net_.module_.state_dict().items()}
    clips = S[:6] * 3.0 + 1.0  # another "domain"
    adapted = layers.with_task_statistics(clf, clips, batch=6)
    for k, v in clf.net_.module_.state_dict().items():
        assert torch.equal(v, before[k])
    module = adapted.net_.module_
    bn = module.backbones[0].blocks[0].bn
    assert not bn.training and bn.momentum == 0.1
    # the first block's statistics by hand: the standardised clips through its convolution
    x = torch.nan_to_num((torch.from_numpy(clips[:, None].astype(np.float32)) - module.mean)
                         / module.std)
    with torch.no_grad():
        z = module.backbones[0].blocks[0].conv(x)
    torch.testing.assert_close(bn.running_mean, z.mean(dim=(0, 2, 3)), rtol=1e-4, atol=1e-5)
    n = z.numel() // z.shape[1]
    unbiased = z.var(dim=(0, 2, 3), unbiased=False) * n / (n - 1)
    torch.testing.assert_close(bn.running_var, unbiased, rtol=1e-3, atol=1e-5)
    weights = [k for k in before if "running" not in k and "num_batches" not in k]
    for k in weights:
        assert torch.equal(module.state_dict()[k], before[k])
    # and it changes what the model embeds
    assert not np.allclose(layers.block_embeddings(adapted, clips)["block3"],
                           layers.block_embeddings(clf, clips)["block3"])


def test_hybrids_take_each_block_whole_from_the_network_it_names(small_logmel):
    import torch

    from research.transfer import swap
    from sklearn_hallu import HalluAudioClassifier

    S, y = small_logmel
    nets = [HalluAudioClassifier(n_way=4, k_shot=2, n_query=2, max_epochs=1,
                                 channels=(8, 8, 8), random_state=s, n_threads=1).fit(S, y)
            for s in (0, 1)]
    trained, twin = nets
    assert swap.HYBRIDS[0] == "---" and swap.HYBRIDS[-1] == "TTT" and len(swap.HYBRIDS) == 8
    mixed = swap.hybrid(trained, twin, "T-T")
    blocks = [n.net_.module_.backbones[0].blocks for n in (trained, twin, mixed)]
    for i, source in enumerate((0, 1, 0)):
        for k, v in blocks[2][i].state_dict().items():
            assert torch.equal(v, blocks[source][i].state_dict()[k]), (i, k)
    # the twin itself is untouched, and the hybrid's other parts are the twin's
    assert not torch.equal(blocks[1][0].conv.weight, blocks[0][0].conv.weight)
    assert torch.equal(mixed.net_.module_.mean, twin.net_.module_.mean)
    res = swap.score_hybrids(trained, twin, S[:20], {"a": (S, y)}, passes=1)
    rows = swap.summarise({0: res})
    same = [r for r in rows if r["hybrid"] == "---"]
    assert same and all(r["gain"] == 0.0 for r in same)


def test_summarise_pairs_against_the_reference_seed_by_seed():
    from research.transfer import layers

    rng = np.random.RandomState(0)
    key = ("spoken_words", "centred_l2", "block3", "5w1s")
    by_seed = {s: {"trained": rng.rand(30), "untrained": rng.rand(30), "reference": rng.rand(30)}
               for s in (3, 4)}
    rows = layers.summarise({"base_slow_last": {key: by_seed}}, against="reference",
                            label=" vs base_ref")
    (row,) = rows
    assert row["variant"] == "base_slow_last vs base_ref" and row["seeds"] == [3, 4]
    want = 100 * np.mean([by_seed[s]["trained"] - by_seed[s]["reference"] for s in (3, 4)])
    assert row["gain"] == pytest.approx(want)
    assert row["untrained"] == pytest.approx(
        100 * np.mean([by_seed[s]["reference"].mean() for s in (3, 4)]))
    # the default pairs with the untrained twin, as before
    (plain,) = layers.summarise({"base_slow_last": {key: by_seed}})
    assert plain["gain"] == pytest.approx(
        100 * np.mean([by_seed[s]["trained"] - by_seed[s]["untrained"] for s in (3, 4)]))
    # the table gives both intervals: over the clips, then over the seeds
    line = [ln for ln in layers.markdown(rows, "cmd").splitlines() if "vs base_ref" in ln][0]
    assert line.endswith(f"{row['gain']:+.2f} ± {row['ci95_clips']:.2f}; "
                         f"± {row['ci95_seeds']:.2f} |")
