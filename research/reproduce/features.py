"""Log-mel features of ESC-50 or the curated Kaggle18 for the reproduction, cached in an .npz."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import numpy as np

from sklearn_hallu import LogMelTransformer
from sklearn_hallu.datasets import (
    ESC50_CLASS_NAMES,
    KAGGLE18_CLASS_NAMES,
    curate_kaggle18,
    esc50_class_split,
    fetch_esc50,
    fetch_kaggle18,
    kaggle18_class_split,
)
from sklearn_hallu.exceptions import DataNotFoundError

__all__ = ["log", "load_features", "write_lever_cache", "DATASET_LOGMEL", "KAGGLE18_CURATION"]


def log(msg):
    """Print ``msg`` with the time of day."""
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


#: Log-mel settings of each dataset beside LogMelTransformer's defaults (those are ESC-50's:
#: hop 502, 5 s). Kaggle18: the paper's hop 201 on the curated 2 s clips, 160 frames.
DATASET_LOGMEL = {"esc50": {}, "kaggle18": {"hop_length": 201, "duration": 2.0}}
#: The Kaggle18 curation (:func:`~sklearn_hallu.datasets.curate_kaggle18`): the clips are
#: the same whatever the model seeds (a fixed draw, as ESC-50's clips are fixed).
KAGGLE18_CURATION = {"n_per_class": None, "duration": 2.0, "sr": 16000,
                     "prefer_verified": True, "random_state": 0}
#: Clips per class of a ``--quick`` run.
QUICK_CLIPS = 12


def load_features(data_home, cache, *, quick, logmel=None, dataset="esc50"):
    """Log-mel of ESC-50 or of the curated Kaggle18 (all clips, or 12 per class when ``quick``).

    Parameters
    ----------
    data_home : str or None
        Where the dataset is (see :func:`~sklearn_hallu.datasets.fetch_esc50` and
        :func:`~sklearn_hallu.datasets.fetch_kaggle18`).
    cache : str or None
        An .npz file: read when it exists and was made with the same dataset,
        curation and LogMelTransformer parameters (and subset), else (re)written.
    quick : bool
        Keep 12 clips of each class.
    logmel : dict or None, default=None
        Parameters of the :class:`~sklearn_hallu.LogMelTransformer`, over the
        dataset's own (:data:`DATASET_LOGMEL`).
    dataset : {"esc50", "kaggle18"}, default="esc50"
        ESC-50, or FSDKaggle2018 curated as in the paper (:data:`KAGGLE18_CURATION`).

    Returns
    -------
    feats : dict
        ``X`` (log-mel, float32), ``target`` (class ids), ``filenames``,
        ``logmel``: the transformer's full parameters, and ``dataset``: its
        ``class_split``, ``class_names`` and ``config`` (what the run records:
        nothing for ESC-50; the dataset's name and curation for Kaggle18).
    """
    transformer = LogMelTransformer(**{**DATASET_LOGMEL[dataset], **(logmel or {})})
    params = {k: v for k, v in sorted(transformer.get_params().items()) if k != "batch_size"}
    curation = _curation(dataset, quick)
    key = _cache_key(params, quick, dataset, curation)
    feats = _read_cache(cache, key)
    if feats is None:
        try:
            clips, feats = (_esc50_clips(data_home, quick) if curation is None
                            else _kaggle18_clips(data_home, curation))
        except DataNotFoundError as exc:  # the research commands take --data-home
            raise DataNotFoundError(f"{exc} From a research command: --data-home DIR.") \
                from exc
        log(f"features: log-mel of {len(clips)} clips ({params})")
        t0 = time.perf_counter()
        feats["X"] = transformer.transform(clips)
        log(f"features: done in {time.perf_counter() - t0:.1f} s, shape {feats['X'].shape}")
        if cache is not None:
            Path(cache).parent.mkdir(parents=True, exist_ok=True)
            np.savez_compressed(cache, key=np.asarray(key), **feats)
            log(f"features: cached in {cache}")
    return {**feats, "logmel": params, "dataset": _dataset_info(dataset, curation, feats)}


def _cache_key(params, quick, dataset, curation):
    """What a cache file must hold as ``key`` to be read for these settings."""
    key = {"logmel": params, "quick": bool(quick)}
    if curation is not None:  # ESC-50's key stays as it was: its caches remain valid
        key = {**key, "dataset": dataset, "curation": curation}
    return json.dumps(key, sort_keys=True, default=str)


def _curation(dataset, quick):
    """The Kaggle18 curation's parameters (``None`` for ESC-50)."""
    if dataset == "esc50":
        return None
    if dataset != "kaggle18":
        raise ValueError(f"dataset must be 'esc50' or 'kaggle18'; got {dataset!r}.")
    return {**KAGGLE18_CURATION, **({"n_per_class": QUICK_CLIPS} if quick else {})}


def _read_cache(cache, key):
    """The cached features when ``cache`` holds them for ``key``, else ``None``."""
    if cache is None or not Path(cache).is_file():
        return None
    z = np.load(cache, allow_pickle=False)
    if "key" in z.files and str(z["key"]) == key:
        log(f"features: loading cache {cache}")
        return {k: z[k] for k in z.files if k != "key"}
    log(f"features: cache {cache} was made with other settings; recomputing")
    return None


def _esc50_clips(data_home, quick):
    """ESC-50's files (12 of each class when ``quick``) and their targets and names."""
    bunch = fetch_esc50(data_home)
    keep = np.ones(len(bunch.target), dtype=bool)
    if quick:  # 12 clips of each class
        keep = np.zeros_like(keep)
        for c in range(50):
            keep[np.flatnonzero(bunch.target == c)[:QUICK_CLIPS]] = True
    files = list(bunch.filenames[keep])
    log(f"features: ESC-50 from {bunch.root}")
    return files, {"target": bunch.target[keep],
                   "filenames": np.asarray([os.path.basename(f) for f in files])}


def _kaggle18_clips(data_home, curation):
    """The curated Kaggle18 waveforms (every clip of FSDKaggle2018 to draw from)."""
    bunch = fetch_kaggle18(data_home, subset="all")
    log(f"features: FSDKaggle2018 from {bunch.root}: {len(bunch.target)} clips; curating "
        f"({curation})")
    cur = curate_kaggle18(bunch, **curation)
    log(f"features: {cur.DESCR}")
    return cur.data, {"target": cur.target,
                      "filenames": np.asarray([os.path.basename(f) for f in cur.filenames])}


def _dataset_info(dataset, curation, feats):
    """Class split and names of the run's dataset, and what its config records."""
    if curation is None:
        return {"class_split": esc50_class_split(), "class_names": ESC50_CLASS_NAMES,
                "config": {}}
    n = np.bincount(feats["target"], minlength=len(KAGGLE18_CLASS_NAMES))
    return {"class_split": kaggle18_class_split(), "class_names": KAGGLE18_CLASS_NAMES,
            "config": {"dataset": dataset,
                       "curation": {**curation, "n_per_class": int(n.max())}}}


def class_ids(dataset_info, cfg):
    """A run's train/validation/test class ids: its dataset's split (``dataset_info``,
    the ``"dataset"`` entry of :func:`load_features`), or the other draw of ESC-50's
    35/5/10 split that its config records (``--class-split SEED``; 0 or absent: the
    paper's split)."""
    if cfg.get("class_split"):
        if cfg.get("dataset", "esc50") != "esc50":
            raise ValueError(f"class_split={cfg['class_split']!r} draws a split of ESC-50's "
                             f"classes, but the run's dataset is {cfg['dataset']!r}")
        return esc50_class_split(cfg["class_split"])
    return dataset_info["class_split"]


def write_lever_cache(data_home, out, *, dtype="float16", quick=False):
    """Write the lever runs' features cache: ESC-50's training and validation classes.

    The log-mel of :func:`load_features` (its cache key kept, so that
    ``--features-cache`` reads the file as its own), the test classes left out and the
    values stored as ``dtype`` (float16 to travel to a lent GPU: at most 0.03 dB off).

    Parameters
    ----------
    data_home : str or None
        Where ESC-50 is.
    out : str or Path
        The .npz file written.
    dtype : str, default="float16"
        How the log-mel values are stored.
    quick : bool, default=False
        12 clips of each class, as a ``--quick`` run reads them (a check).

    Returns
    -------
    n_clips : int
        Clips written (1600 for ESC-50; 480 when ``quick``).
    """
    feats = load_features(data_home, None, quick=quick)
    key = _cache_key(feats["logmel"], quick, "esc50", None)
    keep = ~np.isin(feats["target"], feats["dataset"]["class_split"]["test"])
    Path(out).parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(out, key=np.asarray(key), target=feats["target"][keep],
                        filenames=feats["filenames"][keep],
                        X=feats["X"][keep].astype(dtype))
    log(f"features: {int(keep.sum())} clips of the training and validation classes as "
        f"{dtype} in {out}")
    return int(keep.sum())


def main(argv=None):
    """``python -m research.reproduce.features OUT.npz``: the lever runs' ``F16`` cache."""
    import argparse

    p = argparse.ArgumentParser(prog="python -m research.reproduce.features",
                                description=write_lever_cache.__doc__.splitlines()[0])
    p.add_argument("out", help="the .npz written, e.g. .gpu/esc50_f16.npz")
    p.add_argument("--data-home", default=None, help="where ESC-50 is")
    p.add_argument("--dtype", default="float16", choices=["float16", "float32"])
    p.add_argument("--quick", action="store_true", help="12 clips of each class (a check)")
    args = p.parse_args(argv)
    write_lever_cache(args.data_home, args.out, dtype=args.dtype, quick=args.quick)


if __name__ == "__main__":
    main()
