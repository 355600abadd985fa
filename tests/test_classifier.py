import pickle
import subprocess
import sys
import textwrap

import joblib
import numpy as np
import pytest
import torch
from sklearn.base import clone
from sklearn.exceptions import NotFittedError
from sklearn.pipeline import Pipeline

from sklearn_hallu import FrequencyMaskTransformer, LogMelTransformer, fit_support
from sklearn_hallu.sampling import episodic_accuracy

from .conftest import SMALL_LOGMEL, SMALL_MASK, tiny_clf

BASE = np.arange(8)  # classes 0..7 train, 8..11 are novel


def split_base_novel(X, y):
    base = np.isin(y, BASE)
    return X[base], y[base], X[~base], y[~base]


def novel_accuracy(clf, X, y, seed=0):
    return episodic_accuracy(clf.embed(X), y, n_way=4, k_shot=1, n_query=3, n_episodes=300,
                             random_state=seed).accuracy


def test_training_beats_untrained_on_novel_classes(small_views):
    X, y = small_views
    Xb, yb, Xn, yn = split_base_novel(X, y)
    trained = tiny_clf(max_epochs=8, channels=(16, 16, 16)).fit(Xb, yb)
    untrained = tiny_clf(channels=(16, 16, 16), train_backbone=False).fit(Xb, yb)
    acc_t, acc_u = novel_accuracy(trained, Xn, yn), novel_accuracy(untrained, Xn, yn)
    assert acc_t > acc_u + 0.05, (acc_t, acc_u)
    assert acc_t > 0.6


def test_one_view_is_plain_protonet(small_logmel):
    S, y = small_logmel
    clf = tiny_clf().fit(S, y)
    assert clf.n_views_ == 1 and clf.view_shape_ == (1,) + S.shape[1:]
    assert clf.predict_proba(S).shape == (len(S), 12)


def test_logits_are_minus_summed_view_distances(small_views):
    X, y = small_views
    clf = tiny_clf(max_epochs=1).fit(X, y)
    emb = clf.embed(X[:5])
    expected = np.zeros((5, len(clf.classes_)))
    for sl in clf.view_slices_:
        d = ((emb[:, None, sl] - clf.prototypes_[None, :, sl]) ** 2).sum(-1)
        expected -= d
    np.testing.assert_allclose(clf.decision_function(X[:5]), expected, rtol=1e-3, atol=1e-2)
    proba = clf.predict_proba(X[:5])
    np.testing.assert_allclose(proba.sum(1), 1.0)
    np.testing.assert_array_equal(clf.predict(X[:5]), clf.classes_[proba.argmax(1)])


def test_string_labels_round_trip(small_views):
    X, y = small_views
    names = np.array([f"sound_{i}" for i in range(12)])[y]
    clf = tiny_clf(max_epochs=1).fit(X, names)
    assert clf.classes_.dtype.kind == "U"
    assert set(clf.predict(X)) <= set(names)


def test_same_seed_same_predictions(small_views):
    X, y = small_views
    a = tiny_clf(time_shift=(1, 3)).fit(X, y).predict_proba(X)
    b = tiny_clf(time_shift=(1, 3)).fit(X, y).predict_proba(X)
    c = tiny_clf(time_shift=(1, 3), random_state=1).fit(X, y).predict_proba(X)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)


@pytest.mark.parametrize("n_threads", [1, 2])
def test_same_seed_and_threads_same_history_and_test_numbers(small_views, n_threads):
    # the determinism the reproduction relies on: one machine, one thread count
    from sklearn_hallu.model_selection import few_shot_report

    X, y = small_views
    runs = []
    for _ in range(2):
        clf = tiny_clf(max_epochs=3, time_shift=(1, 3), validation_classes=4,
                       val_n_episodes=20, n_threads=n_threads).fit(X[y < 9], y[y < 9])
        hist = [(h["train_loss"], h["train_acc"], h["valid_acc"]) for h in clf.history_]
        rep = few_shot_report(clf, X[y >= 9], y[y >= 9], settings=((3, 1),), n_repeats=2)
        runs.append((hist, rep.rows[0]["per_clip"].tolist()))
    assert runs[0] == runs[1]


def test_validation_classes_keep_best_epoch(small_views):
    X, y = small_views
    clf = tiny_clf(max_epochs=4, validation_classes=4, val_n_episodes=20).fit(X, y)
    hist = clf.history_
    assert len(hist) == 4 and all("valid_acc" in h for h in hist)
    assert len(clf.validation_classes_) == 4
    assert not set(clf.validation_classes_) & set(clf.train_classes_)
    # prototypes of every class of y, validation classes included
    assert len(clf.classes_) == 12


def test_novel_classes_in_a_pipeline(sounds):
    X, y = sounds
    Xb, yb, Xn, yn = split_base_novel(X, y)
    pipe = Pipeline([("logmel", LogMelTransformer(**SMALL_LOGMEL)),
                     ("masks", FrequencyMaskTransformer(1000.0, **SMALL_MASK)),
                     ("clf", tiny_clf(max_epochs=6, channels=(16, 16, 16)))]).fit(Xb, yb)
    weights = [p.detach().clone() for p in pipe[-1].net_.module_.parameters()]
    support = np.concatenate([np.flatnonzero(yn == c)[:2] for c in np.unique(yn)])
    query = np.setdiff1d(np.arange(len(yn)), support)
    fit_support(pipe, Xn[support], yn[support])
    assert set(pipe.classes_) == set(np.unique(yn))
    acc = np.mean(pipe.predict(Xn[query]) == yn[query])
    assert acc > 0.5
    # the same through set_params(train_backbone=False).fit(...)
    pipe.set_params(clf__train_backbone=False).fit(Xb, yb)
    assert set(pipe.classes_) == set(BASE)
    for w, p in zip(weights, pipe[-1].net_.module_.parameters()):
        torch.testing.assert_close(w, p)


def test_crop_views_variant_sees_only_band_rows(small_views):
    X, y = small_views
    clf = tiny_clf(crop_views=True, max_epochs=1).fit(X, y)
    crops = clf.net_.module_.crops
    assert crops[0] == (0, 32, 0, X.shape[-1])
    assert crops[1][1] == crops[2][0]  # low band ends where high band starts
    assert clf.predict_proba(X).shape == (len(X), 12)


def test_crop_windows_from_the_masks_metadata(small_logmel):
    S, y = small_logmel
    masks = FrequencyMaskTransformer(1000.0, **SMALL_MASK).fit(S)
    X = masks.transform(S)
    clf = tiny_clf(crop_views=masks.view_windows_, max_epochs=1).fit(X, y)
    assert clf.net_.module_.crops == masks.view_windows_
    assert clf.net_.module_.crops == tiny_clf(crop_views=True).fit(X, y).net_.module_.crops
    with pytest.raises(ValueError, match="crop_views gives 2 windows for 3 views"):
        tiny_clf(crop_views=masks.view_windows_[:2]).fit(X, y)


# --------------------------------- our own checks where sklearn's skip 4-D input
def test_own_checks_for_4d_input(small_views):
    X, y = small_views
    est = tiny_clf(max_epochs=1)
    c = clone(est)
    assert c.get_params() == est.get_params()
    scores = c.fit(X, y).decision_function(X)
    # pickling round trip
    np.testing.assert_array_equal(pickle.loads(pickle.dumps(c)).decision_function(X), scores)
    # subset and order invariance of prediction (batches differ: float rounding only)
    np.testing.assert_allclose(c.decision_function(X[5:9]), scores[5:9], rtol=1e-4, atol=1e-2)
    np.testing.assert_allclose(c.decision_function(X[::-1]), scores[::-1], rtol=1e-4, atol=1e-2)
    # a seeded fit repeats: fitting twice gives the same model
    np.testing.assert_array_equal(c.fit(X, y).decision_function(X), scores)


def test_joblib_round_trip_in_fresh_process(small_views, tmp_path):
    X, y = small_views
    clf = tiny_clf().fit(X, y)
    joblib.dump(clf, tmp_path / "m.joblib")
    np.save(tmp_path / "X.npy", X)
    expected = clf.predict_proba(X)
    code = textwrap.dedent(f"""
        import joblib, numpy as np, torch
        torch.set_num_threads(1)
        clf = joblib.load({str(tmp_path / 'm.joblib')!r})
        X = np.load({str(tmp_path / 'X.npy')!r})
        np.save({str(tmp_path / 'p.npy')!r}, clf.predict_proba(X))
    """)
    subprocess.run([sys.executable, "-c", code], check=True)
    np.testing.assert_array_equal(np.load(tmp_path / "p.npy"), expected)


def test_cuda_saved_model_loads_on_cpu(small_views, tmp_path, monkeypatch):
    """Pretend the model was on CUDA when pickled; it must load on a CPU-only machine."""
    from skorch.exceptions import DeviceWarning

    X, y = small_views
    clf = tiny_clf(max_epochs=1).fit(X, y)
    expected = clf.predict_proba(X)
    clf.net_.device = "cuda"  # what a GPU-trained net records
    clf.device = "cuda"
    path = tmp_path / "gpu.joblib"
    joblib.dump(clf, path)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.warns(DeviceWarning):
        loaded = joblib.load(path)
    assert str(loaded.net_.device) == "cpu"
    np.testing.assert_allclose(loaded.predict_proba(X), expected, rtol=1e-5, atol=1e-6)


def test_cuda_unavailable_is_a_clear_error(small_views, monkeypatch):
    X, y = small_views
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(ValueError, match="device='cuda'.*CUDA is not available.*device='cpu'"):
        tiny_clf(device="cuda").fit(X, y)


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_trains_on_gpu(small_views):
    X, y = small_views
    clf = tiny_clf(device="cuda").fit(X, y)
    assert clf.predict_proba(X).shape == (len(X), 12)
    # the augmented step and supervised pre-training draw their bands on the batch's device
    aug = tiny_clf(device="cuda", spec_augment={"freq": (1, 3), "time": (1, 4)},
                   time_shift=(1, 4), pretrain_epochs=1).fit(X, y)
    assert np.isfinite(aug.predict_proba(X)).all()


def test_verbose_prints_epoch_log(small_views, capsys):
    X, y = small_views
    tiny_clf(max_epochs=2, verbose=1).fit(X, y)
    out = capsys.readouterr().out
    assert "epoch" in out and "train_loss" in out and "time_left" in out


def test_progress_bars_count_episodes_then_clips(small_views, capfd, monkeypatch):
    """verbose=2: each epoch's bar counts its episodes (not batches of batch_size clips,
    which gave "2/2" then "8it" here), then the prototype pass counts the clips."""
    import tqdm.auto

    bars = []

    class Recorder(tqdm.auto.tqdm):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **{**kwargs, "mininterval": 0, "miniters": 1})
            bars.append(self)

    monkeypatch.setattr(tqdm.auto, "tqdm", Recorder)
    X, y = small_views
    clf = tiny_clf(max_epochs=2, verbose=2).fit(X, y)
    per_epoch = clf.net_.spec["n_episodes"]
    assert per_epoch == 8 and len(X) // clf.batch_size != per_epoch  # ceil(120 / 16)
    assert [(b.unit, b.total, b.n) for b in bars] == (
        [("episode", per_epoch, per_epoch)] * 2 + [("clip", len(X), len(X))])
    err = capfd.readouterr().err
    assert f"{per_epoch}/{per_epoch} [" in err and f"{len(X)}/{len(X)} [" in err
    assert "it/s" not in err and "it]" not in err
    capfd.readouterr()
    clf.set_params(verbose=0).fit_support(X[::5], y[::5])  # verbose=0: no bar
    assert len(bars) == 3 and capfd.readouterr().err == ""


# ---------------------------------------------------------------- bad input
def test_bad_inputs(small_views):
    X, y = small_views
    with pytest.raises(ValueError, match=r"n_way=13 is larger than the number of classes.*\(12\)"):
        tiny_clf(n_way=13).fit(X, y)
    with pytest.raises(ValueError, match=r"Class\(es\) 0 \(10\).*k_shot=6 \+ n_query=5"):
        tiny_clf(k_shot=6, n_query=5).fit(X, y)
    with pytest.raises(ValueError, match="must be 3-D.*or 4-D.*got shape"):
        tiny_clf().fit(X[:, :, :, :, None], y)
    bad = X.copy()
    bad[4, 0, 0, 0] = np.nan
    with pytest.raises(ValueError, match="NaN or infinity.*index 4"):
        tiny_clf().fit(bad, y)
    with pytest.raises(ValueError, match="only one class"):
        tiny_clf().fit(X[y == 0], y[y == 0])
    with pytest.raises(NotFittedError):
        tiny_clf().predict(X)
    clf = tiny_clf(max_epochs=1).fit(X, y)
    with pytest.raises(ValueError, match="views of shape .* instead of"):
        clf.predict(X[:, :2])
    with pytest.raises(ValueError, match="support set has a single class"):
        clf.fit_support(X[y == 1], y[y == 1])
    with pytest.raises(ValueError, match="validation_classes=12 leaves no class"):
        tiny_clf(validation_classes=12).fit(X, y)


# ------------------------------------------------ tests that fail on a broken model
def test_one_shot_support_predicts_its_own_label(small_views):
    """A 1-shot support clip is its class's prototype: distance 0, its own label."""
    X, y = small_views
    names = np.array([f"sound_{i}" for i in range(12)])[y]
    clf = tiny_clf(max_epochs=1).fit(X, names)
    one = np.array([np.flatnonzero(y == c)[0] for c in range(12)])
    clf.fit_support(X[one], names[one])
    np.testing.assert_array_equal(clf.predict(X[one]), names[one])
    np.testing.assert_allclose(clf.decision_function(X[one]).max(axis=1), 0.0, atol=1e-2)


def test_best_epoch_is_the_max_of_the_recorded_validation_scores(small_views):
    from sklearn_hallu.sampling import episodic_accuracy as ea

    X, y = small_views
    clf = tiny_clf(max_epochs=4, validation_classes=4, val_n_episodes=40, lr=0.05).fit(X, y)
    scores = [h["valid_acc"] for h in clf.history_]
    val = dict(clf.net_.callbacks_)["episodic_validation"]
    keep = np.isin(y, clf.validation_classes_)
    rescored = ea(clf.embed(X[keep]), y[keep], n_way=val.n_way, k_shot=val.k_shot,
                  n_query=val.n_query, n_episodes=val.n_episodes,
                  random_state=val.random_state).accuracy
    assert rescored == max(scores), (rescored, scores)


@pytest.mark.parametrize("patience", [1, 2])
def test_patience_stops_after_that_many_epochs_without_a_better_score(small_views, patience):
    X, y = small_views
    clf = tiny_clf(max_epochs=6, validation_classes=4, val_n_episodes=10, patience=patience,
                   lr=0.05).fit(X, y)
    scores = [h["valid_acc"] for h in clf.history_]
    best, misses, expected = -np.inf, 0, 6  # skorch's EarlyStopping: strictly better
    for epoch, s in enumerate(scores, start=1):
        best, misses = (s, 0) if s > best else (best, misses + 1)
        if misses == patience:
            expected = epoch
            break
    assert len(scores) == expected, scores


def test_standardize_makes_the_model_blind_to_level_and_scale(small_views):
    X, y = small_views
    # per_view_weight=0: small_views fill masked cells with each clip's minimum, a constant
    # region where pooling windows tie exactly, so which cell wins follows the rounding;
    # the per-view losses' gradients through those cells turn a 1e-7 input change into a
    # 2e-3 weight change after one epoch (with fill="nan", the default: 2e-6;
    # research/rounding_sensitivity.py)
    a = tiny_clf(max_epochs=1, per_view_weight=0.0).fit(X, y)
    b = tiny_clf(max_epochs=1, per_view_weight=0.0).fit(3 * X + 20, y)
    enc = b.net_.module_
    np.testing.assert_allclose([enc.mean.item(), enc.std.item()],
                               [(3 * X[:, 0] + 20).mean(), (3 * X[:, 0] + 20).std()], rtol=1e-4)
    np.testing.assert_allclose(b.decision_function(3 * X + 20), a.decision_function(X),
                               rtol=1e-3, atol=1e-2)
    c = tiny_clf(max_epochs=1, standardize=False).fit(X, y)
    assert (c.net_.module_.mean.item(), c.net_.module_.std.item()) == (0.0, 1.0)


@pytest.mark.parametrize("pooling", ["time_mean", "time_mean_max", "time_mean_std"])
def test_fuse_views_computes_the_same_function(pooling):
    """Grouped convolutions with the separate backbones' weights give their embedding."""
    from sklearn_hallu.nn._backbone import MultiViewEncoder

    torch.manual_seed(0)
    sep = MultiViewEncoder(n_views=3, channels=(4, 4, 4), channels_last=False,
                           pooling=pooling)
    fused = MultiViewEncoder(n_views=3, channels=(4, 4, 4), channels_last=False,
                             fuse_views=True, pooling=pooling)
    assert fused.fused and len(fused.backbones) == 1
    with torch.no_grad():
        for i, block in enumerate(fused.backbones[0].blocks):
            parts = [bb.blocks[i] for bb in sep.backbones]
            for bn in [p.bn for p in parts]:  # non-trivial batch-norm statistics
                bn.running_mean.uniform_(-1, 1), bn.running_var.uniform_(0.5, 2)
                bn.weight.uniform_(0.5, 2), bn.bias.uniform_(-1, 1)
            block.conv.weight.copy_(torch.cat([p.conv.weight for p in parts]))
            for name in ("weight", "bias", "running_mean", "running_var"):
                getattr(block.bn, name).copy_(torch.cat([getattr(p.bn, name) for p in parts]))
    X = torch.randn(5, 3, 80, 160)  # last map: 2 mel x 3 time cells, so pooling matters
    sep.set_input_shape(80, 160), fused.set_input_shape(80, 160)
    assert fused.view_slices == sep.view_slices
    with torch.no_grad():
        torch.testing.assert_close(fused.eval()(X), sep.eval()(X), rtol=1e-4, atol=1e-5)


def test_flatten_pooling_keeps_where_in_time(small_views):
    X, y = small_views
    X = np.concatenate([X] * 3, axis=-1)  # 96 frames: 2 time steps after three poolings
    mean = tiny_clf(max_epochs=1).fit(X, y)
    flat = tiny_clf(max_epochs=1, pooling="flatten").fit(X, y)
    assert flat.embed(X[:1]).shape[1] == 2 * mean.embed(X[:1]).shape[1]
    one = np.array([np.flatnonzero(y == c)[0] for c in range(12)])
    flat.fit_support(X[one], y[one])
    np.testing.assert_array_equal(flat.predict(X[one]), y[one])


def test_time_poolings_train_predict_and_embed_as_pooled(small_views):
    from sklearn_hallu.nn import pool_feature_map

    X, y = small_views
    X = np.concatenate([X] * 5, axis=-1)  # 160 frames: 3 time cells after three poolings
    dims = {}
    for pooling in ("time_mean", "time_mean_max", "time_mean_std"):
        clf = tiny_clf(max_epochs=1, pooling=pooling, fuse_views=False).fit(X, y)
        proba = clf.predict_proba(X[:5])
        assert np.isfinite(proba).all() and np.allclose(proba.sum(1), 1)
        dims[pooling] = clf.embed(X[:1]).shape[1]
        # the network's output (what embed centres and scales) is the last block's map
        # pooled as asked, view by view
        module = clf.net_.module_.eval()
        with torch.no_grad():
            got = module(torch.from_numpy(X[:4]))
            Z = torch.nan_to_num((torch.from_numpy(X[:4]) - module.mean) / module.std, nan=0.0)
            want = [pool_feature_map(bb.blocks(Z[:, [v]]), pooling).flatten(1)
                    for v, bb in enumerate(module.backbones)]
        np.testing.assert_allclose(got.numpy(), torch.cat(want, 1).numpy(),
                                   rtol=1e-4, atol=1e-5)
    assert dims["time_mean_max"] == dims["time_mean"]
    assert dims["time_mean_std"] == 2 * dims["time_mean"]


def test_unknown_pooling_is_refused_at_fit(small_views):
    X, y = small_views
    with pytest.raises(ValueError, match="'pooling' parameter of HalluAudioClassifier"):
        tiny_clf(pooling="attention").fit(X, y)


def test_per_view_weight_adds_each_views_loss(small_views):
    X, y = small_views
    loss = {w: tiny_clf(max_epochs=1, n_episodes=1, per_view_weight=w).fit(X, y)
            .history_[-1]["train_loss"] for w in (0.0, 1.0, 2.0)}
    # one episode from the same initial weights: the loss grows linearly in the weight
    assert loss[1.0] > loss[0.0]
    np.testing.assert_allclose(loss[2.0] - loss[0.0], 2 * (loss[1.0] - loss[0.0]), rtol=1e-3)


def test_centered_l2_centres_on_the_training_classes_and_equalises_views(small_views):
    X, y = small_views
    clf = tiny_clf(max_epochs=1, validation_classes=[0, 1]).fit(X, y)
    assert clf.embedding_norm == "centered_l2"  # the default, chosen on validation
    raw = clf.net_.forward(X).numpy()
    trained_on = ~np.isin(y, [0, 1])  # the validation classes are not in the mean
    np.testing.assert_allclose(clf.embedding_mean_, raw[trained_on].mean(0), rtol=1e-4,
                               atol=1e-5)
    centred = raw[trained_on] - raw[trained_on].mean(0)
    scale = np.mean([np.linalg.norm(centred[:, sl], axis=1) for sl in clf.view_slices_])
    assert abs(clf.embedding_scale_ - scale) < 1e-4 * scale
    emb = clf.embed(X)
    for sl in clf.view_slices_:
        np.testing.assert_allclose(np.linalg.norm(emb[:, sl], axis=1), clf.embedding_scale_,
                                   rtol=1e-4)
    means = [emb[y == c].mean(0) for c in clf.classes_]  # prototypes of normalised clips
    np.testing.assert_allclose(clf.prototypes_, means, rtol=1e-4, atol=1e-5)
    support = clone(clf).fit(X, y).fit_support(X[:12], y[:12])  # a support set keeps them
    np.testing.assert_array_equal(support.embedding_mean_, clf.embedding_mean_)
    plain = clone(clf).set_params(embedding_norm=None).fit(X, y)  # the paper's metric
    np.testing.assert_allclose(plain.embed(X), plain.net_.forward(X).numpy())
    means = [plain.embed(X[y == c]).mean(0) for c in plain.classes_]
    np.testing.assert_allclose(plain.prototypes_, means, rtol=1e-4, atol=1e-4)


def test_model_saved_before_embedding_norm_keeps_its_metric_and_can_take_the_new_one(
        small_views):
    from sklearn_hallu import HalluAudioClassifier

    X, y = small_views
    raw = tiny_clf(max_epochs=1, embedding_norm=None).fit(X, y)
    state = raw.__getstate__()
    for key in ("embedding_norm", "embedding_mean_", "embedding_scale_", "prototypes_norm_"):
        del state[key]  # what sklearn-hallu 0.1.0 pickled
    old = HalluAudioClassifier.__new__(HalluAudioClassifier)
    old.__setstate__(state)
    assert old.embedding_norm is None
    np.testing.assert_allclose(old.predict_proba(X), raw.predict_proba(X))
    old.fit_support(X[:12], y[:12])  # a support set must not become the centring
    old.set_params(embedding_norm="centered_l2")
    with pytest.raises(ValueError, match=r"fit_embedding_stats\(X_train\)"):
        old.embed(X)
    with pytest.raises(ValueError, match=r"fit_embedding_stats\(X_train\)"):
        old.fit_support(X, y)
    old.set_params(embedding_norm="none")
    with pytest.raises(ValueError, match="or None, got 'none'"):
        old.embed(X)
    old.set_params(embedding_norm="centered_l2")
    old.fit_embedding_stats(X)
    with pytest.raises(ValueError, match=r"made with embedding_norm=None.*fit_support"):
        old.predict(X)
    old.fit_support(X, y)
    new = clone(raw).set_params(embedding_norm="centered_l2").fit(X, y)  # same seed, same net
    np.testing.assert_allclose(old.predict_proba(X), new.predict_proba(X), rtol=1e-4,
                               atol=1e-6)


def test_test_time_shifts_average_the_shifted_clips_everywhere(small_views):
    import torch

    X, y = small_views
    plain = tiny_clf(max_epochs=1, validation_classes=[0, 1]).fit(X, y)
    tta = clone(plain).set_params(test_time_shifts=4).fit(X, y)  # same seed: same weights
    width = X.shape[-1]
    with torch.no_grad():
        raw = np.mean([plain.net_.forward(np.roll(X, j * width // 4, axis=-1)).numpy()
                       for j in range(4)], axis=0)
    trained_on = ~np.isin(y, [0, 1])
    np.testing.assert_allclose(tta.embedding_mean_, raw[trained_on].mean(0), rtol=1e-4,
                               atol=1e-5)  # the centre comes from shifted clips too
    emb = tta.embed(X)
    centred = raw - raw[trained_on].mean(0)
    for sl in tta.view_slices_:  # each view: the centred mean of the shifts, at one norm
        unit = centred[:, sl] / np.linalg.norm(centred[:, sl], axis=1, keepdims=True)
        np.testing.assert_allclose(emb[:, sl], tta.embedding_scale_ * unit, rtol=1e-3,
                                   atol=1e-4)
    assert not np.allclose(emb, plain.embed(X))
    np.testing.assert_allclose(tta.prototypes_, [emb[y == c].mean(0) for c in tta.classes_],
                               rtol=1e-4, atol=1e-5)
    # the default embeds clips as they are, bit for bit as before the option existed
    np.testing.assert_array_equal(plain.set_params(test_time_shifts=1).embed(X),
                                  plain._normalize(plain.net_.forward(X)).numpy())


def test_changing_test_time_shifts_after_fit_asks_for_the_statistics_again(small_views,
                                                                           tmp_path):
    import joblib

    from sklearn_hallu import HalluAudioClassifier

    X, y = small_views
    clf = tiny_clf(max_epochs=1).fit(X, y)
    clf.set_params(test_time_shifts=3)
    with pytest.raises(ValueError, match=r"test_time_shifts=1, not the current 3.*"
                                         r"fit_embedding_stats\(X_train\)"):
        clf.embed(X)
    clf.fit_embedding_stats(X)
    with pytest.raises(ValueError, match=r"prototypes.*fit_support"):
        clf.predict(X)  # made before the new centring
    clf.fit_support(X, y)
    raw = tiny_clf(max_epochs=1, embedding_norm=None).fit(X, y)  # no centring to redo
    with pytest.raises(ValueError, match=r"prototypes.*test_time_shifts=1, not the current "
                                         r"2.*fit_support"):
        raw.set_params(test_time_shifts=2).predict(X)
    assert clf.predict(X).shape == (len(X),)
    with pytest.raises(ValueError, match="test_time_shifts"):
        clone(clf).set_params(test_time_shifts=0).fit(X, y)
    for bad in (0, 2.0, True):  # set_params on a fitted model does not validate
        with pytest.raises(ValueError, match=f"integer >= 1.*got {bad!r}"):
            clone(clf).fit(X, y).set_params(test_time_shifts=bad).embed(X)
    stale = tiny_clf(max_epochs=1).fit(X, y).set_params(test_time_shifts=2)
    with pytest.raises(ValueError, match=r"fit_embedding_stats\(X_train\).*then fit_support"):
        stale.predict(X)  # names both steps, in order
    # a model saved before the option existed loads with shifts=1
    state = tiny_clf(max_epochs=1).fit(X, y).__getstate__()
    for key in ("test_time_shifts", "embedding_stats_shifts_", "prototypes_shifts_"):
        del state[key]
    old = HalluAudioClassifier.__new__(HalluAudioClassifier)
    old.__setstate__(state)
    assert old.get_params()["test_time_shifts"] == 1
    assert old.predict(X).shape == (len(X),)
    path = tmp_path / "m.joblib"
    joblib.dump(clf, path)
    np.testing.assert_allclose(joblib.load(path).predict_proba(X), clf.predict_proba(X))
    from sklearn_hallu import persistence

    persistence.dump(clf, tmp_path / "m.skops")
    back = persistence.load(tmp_path / "m.skops")
    assert back.test_time_shifts == 3 and back.prototypes_shifts_ == 3
    np.testing.assert_allclose(back.predict_proba(X), clf.predict_proba(X), rtol=1e-6)


def test_time_pool_trains_predicts_and_survives_persistence(small_views, tmp_path):
    from sklearn_hallu.persistence import dump, load

    X, y = small_views
    X = np.concatenate([X] * 5, axis=-1)  # 160 frames: 10 time cells with (4, 4, 1)
    clf = tiny_clf(max_epochs=1, time_pool=(4, 4, 1)).fit(X, y)
    square = tiny_clf(max_epochs=1).fit(X, y)
    assert clf.embed(X[:1]).shape == square.embed(X[:1]).shape
    assert not np.allclose(clf.embed(X[:3]), square.embed(X[:3]))
    dump(clf, tmp_path / "m.skops")
    back = load(tmp_path / "m.skops")
    assert back.net_.module_.backbones[0].blocks[2].bn.pool == (4, 1)
    np.testing.assert_allclose(back.predict_proba(X[:5]), clf.predict_proba(X[:5]),
                               rtol=1e-5, atol=1e-6)


def test_freq_pool_trains_predicts_and_survives_persistence(small_views, tmp_path):
    from sklearn_hallu.persistence import dump, load

    X, y = small_views
    clf = tiny_clf(max_epochs=1, freq_pool=(4, 2, 2)).fit(X, y)
    coarse = tiny_clf(max_epochs=1).fit(X, y)
    # twice the mel cells in the embedding (32 mel rows: 8, 2, 1 cells -> 8, 4, 2)
    assert clf.embed(X[:1]).shape[1] == 2 * coarse.embed(X[:1]).shape[1]
    dump(clf, tmp_path / "m.skops")
    back = load(tmp_path / "m.skops")
    assert back.freq_pool == (4, 2, 2)
    assert back.net_.module_.backbones[0].blocks[2].bn.pool == (2, 4)
    np.testing.assert_allclose(back.predict_proba(X[:5]), clf.predict_proba(X[:5]),
                               rtol=1e-5, atol=1e-6)
    # a model saved before freq_pool existed loads as 4 rows in every block
    state = coarse.__getstate__()
    state.pop("freq_pool")
    state["_net_state"]["spec"].pop("freq_pool")
    old = type(coarse).__new__(type(coarse))
    old.__setstate__(state)
    assert old.freq_pool is None
    np.testing.assert_allclose(old.predict_proba(X[:5]), coarse.predict_proba(X[:5]),
                               rtol=1e-6)


@pytest.mark.parametrize("key", ["time_pool", "freq_pool"])
def test_pools_of_the_wrong_length_are_refused_before_training(small_views, key):
    X, y = small_views
    clf = tiny_clf(**{key: (4, 1)})
    with pytest.raises(ValueError, match=rf"{key} must give one .* got \(4, 1\)"):
        clf.fit(X, y)
    assert not hasattr(clf, "net_")


def test_recipe_params_are_valid_estimator_parameters():
    from sklearn_hallu import HalluAudioClassifier
    from sklearn_hallu.classifier import RECIPE_NAMES, recipe_params

    for name in RECIPE_NAMES:
        HalluAudioClassifier(**recipe_params(name))._validate_params()
    # a fresh dict each call, overrides win, and an unknown name is a clear error
    p = recipe_params("long2x_tpool_tta8", device="cuda")
    p["max_epochs"] = 1
    assert recipe_params("long2x_tpool_tta8")["max_epochs"] == 126 and p["device"] == "cuda"
    with pytest.raises(ValueError, match=r"unknown recipe 'long3x'.*'long2x_tpool_tta8'"):
        recipe_params("long3x")
