"""Log-mel features of ESC-50 for the reproduction, cached in an .npz file."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import numpy as np

from sklearn_hallu import LogMelTransformer
from sklearn_hallu.datasets import fetch_esc50

__all__ = ["log", "load_features"]


def log(msg):
    """Print ``msg`` with the time of day."""
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


def load_features(data_home, cache, *, quick, logmel=None):
    """Log-mel of ESC-50 (all clips, or 12 of each class when ``quick``).

    Parameters
    ----------
    data_home : str or None
        Where ESC-50 is (see :func:`~sklearn_hallu.datasets.fetch_esc50`).
    cache : str or None
        An .npz file: read when it exists and was made with the same
        LogMelTransformer parameters (and subset), else (re)written.
    quick : bool
        Keep 12 clips of each class.
    logmel : dict or None, default=None
        Parameters of the :class:`~sklearn_hallu.LogMelTransformer`.

    Returns
    -------
    feats : dict
        ``X`` (log-mel, float32), ``target`` (class ids), ``filenames``, and
        ``logmel``: the transformer's full parameters.
    """
    transformer = LogMelTransformer(**(logmel or {}))
    params = {k: v for k, v in sorted(transformer.get_params().items()) if k != "batch_size"}
    key = json.dumps({"logmel": params, "quick": bool(quick)}, sort_keys=True, default=str)
    if cache is not None and Path(cache).is_file():
        z = np.load(cache, allow_pickle=False)
        if "key" in z.files and str(z["key"]) == key:
            log(f"features: loading cache {cache}")
            return {**{k: z[k] for k in z.files if k != "key"}, "logmel": params}
        log(f"features: cache {cache} was made with other settings; recomputing")
    bunch = fetch_esc50(data_home)
    keep = np.ones(len(bunch.target), dtype=bool)
    if quick:  # 12 clips of each class
        keep = np.zeros_like(keep)
        for c in range(50):
            keep[np.flatnonzero(bunch.target == c)[:12]] = True
    files = list(bunch.filenames[keep])
    log(f"features: log-mel of {len(files)} clips from {bunch.root} ({params})")
    t0 = time.perf_counter()
    X = transformer.transform(files)
    log(f"features: done in {time.perf_counter() - t0:.1f} s, shape {X.shape}")
    feats = {"X": X, "target": bunch.target[keep],
             "filenames": np.asarray([os.path.basename(f) for f in files])}
    if cache is not None:
        Path(cache).parent.mkdir(parents=True, exist_ok=True)
        np.savez_compressed(cache, key=np.asarray(key), **feats)
        log(f"features: cached in {cache}")
    return {**feats, "logmel": params}
