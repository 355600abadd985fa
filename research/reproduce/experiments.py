"""The reproduction's experiments: build, train, test and summarise the models."""

from __future__ import annotations

import json
import time

import joblib
import numpy as np

from sklearn_hallu import embed, final_estimator, fit_embedding_stats
from sklearn_hallu.apps import make_model
from sklearn_hallu.datasets import ESC50_CLASS_NAMES
from sklearn_hallu.inspection import frequency_importance
from sklearn_hallu.model_selection import few_shot_report

from .features import log
from .paper import K_SHOT_SETTINGS, SETTINGS
from .report import git_commit

__all__ = ["reproduce_model", "sweep_split", "recipe_key", "fit_or_load", "evaluate_model",
           "untrained_floor"]

# The reproduction's model kinds and the views each one sees.
KIND_VIEWS = {"baseline": "baseline", "halluaudio": "hallu", "time_concept": "time",
              "halluaudio_crop": "hallu"}


def reproduce_model(kind, cfg, seed, split_hz, validation=True):
    """The model ``kind`` with the reproduction's recipe ``cfg`` (input: log-mel features).

    Parameters
    ----------
    kind : {"baseline", "halluaudio", "time_concept", "halluaudio_crop"}
        The model.
    cfg : dict
        The run's settings (see :func:`~research.reproduce.run`).
    seed : int
        Seeds the classifier.
    split_hz : float
        HalluAudio's split frequency.
    validation : bool, default=True
        Hold out the validation classes and keep the best epoch.

    Returns
    -------
    model : Pipeline or HalluAudioClassifier
        Unfitted.
    """
    n_frames = cfg["n_frames"]
    shift = (round(20 * n_frames / 160), round(139 * n_frames / 160))
    return make_model(
        KIND_VIEWS[kind], split_hz=split_hz, spectrogram_shape=(cfg["n_mels"], n_frames),
        n_way=cfg.get("train_way", 5), k_shot=5, n_query=5,
        max_epochs=cfg["epochs"], n_episodes=cfg["episodes"],
        lr=0.01, momentum=0.9, weight_decay=1e-4,
        lr_step=cfg["lr_step"], lr_gamma=0.1,
        channels=tuple(cfg["channels"]),
        pooling=cfg["pooling"],
        time_shift=shift if cfg["time_shift"] else None,
        time_shift_per=cfg["time_shift_per"],
        mask_params={"fill": cfg["mask_fill"]},
        per_view_weight=_per_view_weight(kind, cfg),
        embedding_norm=cfg.get("embedding_norm"),
        test_time_shifts=cfg.get("test_time_shifts", 1),
        crop_views=cfg["crop_views"] or kind == "halluaudio_crop",
        spec_augment=cfg.get("spec_augment"), pretrain_epochs=cfg.get("pretrain_epochs", 0),
        time_pool=None if cfg.get("time_pool") is None else tuple(cfg["time_pool"]),
        freq_pool=None if cfg.get("freq_pool") is None else tuple(cfg["freq_pool"]),
        checkpoint=cfg.get("checkpoint", "best"),
        validation_classes=cfg["val_classes"] if validation else None,
        val_n_way=5, val_k_shot=5, val_n_episodes=cfg["val_episodes"],
        device=cfg["device"], random_state=seed, verbose=cfg["verbose"],
    )


def _history(model):
    clf = final_estimator(model)
    keys = ["epoch", "train_loss", "train_acc", "valid_acc", "valid_s", "dur"]
    return [{k: row.get(k) for k in keys} for row in clf.history_]


def _report_dict(report):
    out = {}
    for r in report.rows:
        out[r["setting"]] = {"accuracy": r["accuracy"], "ci95": r["ci95"],
                             "n_queries": r["n_queries"],
                             "per_class": {str(k): v for k, v in r["per_class"].items()}}
        if "per_clip" in r:
            out[r["setting"]]["ci95_clips"] = r["ci95_clips"]
            out[r["setting"]]["per_clip"] = np.asarray(r["per_clip"]).tolist()
    return out


def sweep_split(feats, split, cfg, splits, seed):
    """HalluAudio for each split frequency: train on train classes, score validation.

    Parameters
    ----------
    feats : dict
        ``X`` and ``target`` of the clips.
    split : dict
        Boolean masks ``"train"``, ``"validation"``, ``"test"`` over the clips.
    cfg : dict
        The run's settings.
    splits : list of float
        Split frequencies (Hz).
    seed : int
        Seeds the models and the episodes.

    Returns
    -------
    list of dict
        One row per split frequency: accuracies and CIs of 5-way 1/5-shot.
    """
    results = []
    Xtr, ytr = feats["X"][split["train"]], feats["target"][split["train"]]
    Xva, yva = feats["X"][split["validation"]], feats["target"][split["validation"]]
    for hz in splits:
        log(f"sweep: split_hz={hz:g} (train classes only, fixed {cfg['epochs']} epochs)")
        t0 = time.perf_counter()
        model = reproduce_model("halluaudio", cfg, seed, hz, validation=False).fit(Xtr, ytr)
        rep = few_shot_report(model, Xva, yva, settings=((5, 1), (5, 5)), protocol="paper",
                              n_repeats=cfg["repeats"], random_state=seed, device=cfg["device"])
        row = {"split_hz": hz, "fit_s": time.perf_counter() - t0,
               **{r["setting"]: r["accuracy"] for r in rep.rows},
               **{r["setting"] + " ci95": r["ci95"] for r in rep.rows}}
        log(f"sweep: split_hz={hz:g}: 5w1s {row['5-way 1-shot']:.2f}, "
            f"5w5s {row['5-way 5-shot']:.2f}")
        results.append(row)
    return results


# Settings that do not change what a model learns (a resumed run may differ in them).
_NOT_RECIPE = ("verbose", "repeats", "device", "embedding_norm",  # not training
               "test_time_shifts")


def _per_view_weight(kind, cfg):
    """``--per-view-weight`` for multi-view models; 0 for the baseline (one view, no per-view
    loss), so that its finished models are reused whatever the option."""
    return 0.0 if kind == "baseline" else cfg["per_view_weight"]


def recipe_key(kind, cfg, seed, split_hz):
    """What a saved model must have been trained with to be reused (a JSON string).

    Run-only settings (verbosity, test passes, device) are left out; so is a
    5-way ``train_way``: models saved before ``--train-way`` existed were
    trained 5-way and do not record it.
    """
    same = _NOT_RECIPE + (("train_way",) if cfg.get("train_way", 5) == 5 else ())
    return json.dumps({"kind": kind, "seed": seed, "split_hz": split_hz,
                       **{k: v for k, v in cfg.items() if k not in same},
                       "per_view_weight": _per_view_weight(kind, cfg)},
                      sort_keys=True, default=str)


def fit_or_load(kind, cfg, seed, split_hz, X, y, path, *, stage, timings, tag, resume=True):
    """Train the model (and save it to ``path``), or load it.

    A model is loaded for ``stage="test"``, and when ``resume`` and ``path``
    holds a model trained with the same recipe (kept beside it as ``.json``):
    a rerun of an interrupted reproduction continues with the models it lacks.

    Parameters
    ----------
    kind : str
        The model kind.
    cfg : dict
        The run's settings.
    seed : int
        Seeds the model.
    split_hz : float
        HalluAudio's split frequency.
    X : ndarray of shape (n_clips, n_mels, n_frames)
        Training and validation clips.
    y : ndarray of shape (n_clips,)
        Their class ids.
    path : pathlib.Path
        The model file.
    stage : {"all", "test"}
        ``"test"`` loads ``path`` instead of training.
    timings : dict
        Receives the fit time.
    tag : str
        Prefix of the log lines.
    resume : bool, default=True
        Load a finished model of the same recipe instead of training again.

    Returns
    -------
    model : Pipeline or HalluAudioClassifier
        Fitted.
    trained_at : dict
        ``commit`` that trained the model (``"unknown"`` for a model saved before
        this was recorded) and ``loaded`` (True when it was not trained by this run).
    """
    recipe = path.with_suffix(".json")  # what the saved model was trained with
    provenance = path.with_suffix(".trained.json")  # which commit trained it
    wanted = recipe_key(kind, cfg, seed, split_hz)
    if stage == "test" and recipe.is_file():
        _check_same_classes(path, json.loads(recipe.read_text()), json.loads(wanted))
    if stage == "test" or (resume and path.is_file() and recipe.is_file()
                           and recipe.read_text() == wanted):
        log(f"{tag}: loading {path}" + ("" if stage == "test" else " (finished before)"))
        commit = (json.loads(provenance.read_text())["commit"] if provenance.is_file()
                  else "unknown")
        return (_with_embedding_norm(joblib.load(path), cfg, X, y),
                {"commit": commit, "loaded": True})
    log(f"{tag}: training on {len(y)} clips ({cfg['epochs']} epochs, device {cfg['device']})")
    t0 = time.perf_counter()
    model = reproduce_model(kind, cfg, seed, split_hz).fit(X, y)
    timings[f"{kind}_seed{seed}_fit"] = time.perf_counter() - t0
    tmp = path.with_suffix(".partial")  # an interrupted dump never looks finished
    joblib.dump(model, tmp)
    tmp.replace(path)
    recipe.write_text(wanted)
    trained_at = {"commit": git_commit(), "loaded": False}
    provenance.write_text(json.dumps({"commit": trained_at["commit"]}))
    return model, trained_at


def _check_same_classes(path, saved, wanted):
    """``--stage test`` reuses a model whatever its recipe, but never one trained on
    another class split (it would be tested on classes it trained on), nor one kept by
    another checkpoint rule than the run records."""
    for key in ("class_split", "val_classes"):
        if key == "val_classes" and key not in saved:  # an early model: not recorded
            continue
        if saved.get(key, 0) != wanted.get(key, 0):
            raise ValueError(
                f"{path}: trained with {key}={saved.get(key)!r}, and this run has "
                f"{key}={wanted.get(key)!r}: its test classes may be among that model's "
                "training classes. Test it with the options it was trained with (its recipe "
                f"is in {path.with_suffix('.json')}), or train one for this split.")
    kept, asked = saved.get("checkpoint", "best"), wanted.get("checkpoint", "best")
    if kept != asked:  # the run's config would say a rule the weights were not kept by
        raise ValueError(
            f"{path}: its weights were kept by checkpoint={kept!r}, and this run has "
            f"checkpoint={asked!r}. Test it with --checkpoint {kept} (models saved before "
            "the late rule became the default kept 'best'), or train one with this rule.")


def _with_embedding_norm(model, cfg, X, y):
    """A loaded model set to the run's ``embedding_norm`` and ``test_time_shifts``
    (prediction settings, so models trained before them are reused); a model saved without
    the centring statistics, or with those of other shifts, gets them from its training
    classes (``X``, ``y`` less the validation classes)."""
    clf = final_estimator(model)
    norm, shifts = cfg.get("embedding_norm"), cfg.get("test_time_shifts", 1)
    clf.set_params(embedding_norm=norm, test_time_shifts=shifts)
    if norm is not None and (not hasattr(clf, "embedding_mean_")
                             or getattr(clf, "embedding_stats_shifts_", 1) != shifts):
        fit_embedding_stats(model, X[~np.isin(y, cfg["val_classes"])])
    return model


def evaluate_model(model, kind, Xte, yte, cfg, seed, *, timings, tag, quick,
                   class_names=ESC50_CLASS_NAMES):
    """Test one fitted model on the test classes: the tables and the frequency importance.

    Parameters
    ----------
    model : Pipeline or HalluAudioClassifier
        Fitted.
    kind : str
        The model kind.
    Xte : ndarray of shape (n_clips, n_mels, n_frames)
        Test clips.
    yte : ndarray of shape (n_clips,)
        Their class ids.
    cfg : dict
        The run's settings.
    seed : int
        Seeds the episodes.
    timings : dict
        Receives the test time.
    tag : str
        Prefix of the log lines.
    quick : bool
        Fewer frequency-importance episodes.
    class_names : sequence of str, default=ESC50_CLASS_NAMES
        The dataset's class names by id (the frequency importance's keys).

    Returns
    -------
    entry : dict
        ``seed``, ``best_epoch``, ``history``, ``test`` (and ``frequency_importance``).
    """
    hist = _history(model)
    best = max(hist, key=lambda h: h["valid_acc"] if h["valid_acc"] is not None else -1)
    flags = [row.get("valid_acc_best") for row in final_estimator(model).history_]
    if any(flags):  # checkpoint="best_after_last_drop": the epoch it kept
        best = hist[max(i for i, f in enumerate(flags) if f)]
    log(f"{tag}: best epoch {best['epoch']} (valid 5w5s {100 * best['valid_acc']:.2f}); "
        "testing")
    t0 = time.perf_counter()
    emb = embed(model, Xte)  # once, for the report and the frequency importance
    rep = few_shot_report(model, Xte, yte, settings=SETTINGS, protocol="paper",
                          n_repeats=cfg["repeats"], random_state=seed, device=cfg["device"],
                          embeddings=emb)
    log(f"{tag}:\n{rep}")
    # Figure 3: 5-way K-shot for K = 1..5, same embeddings, same seed.
    curve = few_shot_report(model, Xte, yte, settings=K_SHOT_SETTINGS, protocol="paper",
                            n_repeats=cfg["repeats"], random_state=seed, device=cfg["device"],
                            embeddings=emb)
    timings[f"{kind}_seed{seed}_test"] = time.perf_counter() - t0
    entry = {"seed": seed, "best_epoch": best["epoch"], "history": hist,
             "test": _report_dict(rep), "k_shot": _report_dict(curve)}
    if kind in ("halluaudio", "halluaudio_crop"):
        imp = frequency_importance(model, Xte, yte, n_way=5, k_shot=5,
                                   n_episodes=100 if quick else 2000,
                                   random_state=seed, device=cfg["device"], embeddings=emb)
        entry["frequency_importance"] = {
            class_names[c]: {"ratio": float(r), "correct_high": int(h),
                             "correct_low": int(lo)}
            for c, r, h, lo in zip(imp["classes"], imp["ratio"], imp["correct_high"],
                                   imp["correct_low"])}
    return entry


def untrained_floor(kind, cfg, seed, split_hz, X, y, Xte, yte):
    """Test the architecture untrained (prototypes from ``(X, y)``): the floor.

    Parameters
    ----------
    kind : str
        The model kind.
    cfg : dict
        The run's settings.
    seed : int
        Seeds the weights and the episodes.
    split_hz : float
        HalluAudio's split frequency.
    X : ndarray of shape (n_clips, n_mels, n_frames)
        Training clips.
    y : ndarray of shape (n_clips,)
        Their class ids.
    Xte : ndarray of shape (n_clips, n_mels, n_frames)
        Test clips.
    yte : ndarray of shape (n_clips,)
        Their class ids.

    Returns
    -------
    dict
        Accuracy, CI and per-class accuracy of each setting.
    """
    untrained = reproduce_model(kind, cfg, seed, split_hz, validation=False)
    untrained.set_params(**{("clf__" if kind != "baseline" else "") + "train_backbone": False})
    untrained.fit(X, y)
    return _report_dict(few_shot_report(
        untrained, Xte, yte, settings=SETTINGS, protocol="paper",
        n_repeats=cfg["repeats"], random_state=seed, device=cfg["device"]))
