"""Run a transformer over chunks of its input with joblib, on any joblib backend.

``joblib.Parallel`` hands work to the active backend, so the same call runs in
this process, on local worker processes (``loky``) or on a ``dask.distributed``
cluster inside ``joblib.parallel_config(backend="dask")``.
"""

from __future__ import annotations

import os
from numbers import Integral

import numpy as np
from joblib import Parallel, delayed, effective_n_jobs

__all__ = ["transform_in_parallel"]


def _n_items(X):
    if isinstance(X, (str, bytes, os.PathLike)):
        raise TypeError(
            f"X must be a sequence of clips or file paths, got a single path {X!r}. "
            "Wrap it in a list: [path]."
        )
    if hasattr(X, "shape") and hasattr(X, "__getitem__"):
        if len(X.shape) == 0:
            raise TypeError(f"X must be a sequence of clips, got a 0-d array {X!r}.")
        return X.shape[0]
    try:
        return len(X)
    except TypeError:
        raise TypeError(
            f"X must be an array or a sequence (list, tuple) of clips or file paths, got "
            f"{type(X).__name__}, which has no length. Pass list(X) for a generator."
        ) from None


def _chunk_bounds(n, n_chunks, align):
    """``n_chunks`` (start, stop) pairs of near-equal sizes, cut at multiples of ``align``."""
    blocks = -(-n // align)  # whole blocks of `align` items, the last maybe short
    n_chunks = min(n_chunks, blocks)
    edges = [min(n, align * (blocks * i // n_chunks)) for i in range(n_chunks + 1)]
    return [(a, b) for a, b in zip(edges[:-1], edges[1:]) if b > a]


def _transform_chunk(transformer, X_chunk):
    return transformer.transform(X_chunk)


def transform_in_parallel(transformer, X, *, n_chunks=None, n_jobs=None, verbose=0):
    """Apply ``transformer.transform`` to chunks of ``X`` in parallel and join the results.

    The chunks go to ``joblib.Parallel``, so they run wherever the active joblib
    backend sends them: in this process when no backend is set and ``n_jobs`` is
    ``None`` or 1, on local processes with ``n_jobs=-1``, or on the workers of a
    ``dask.distributed`` cluster inside ``joblib.parallel_config(backend="dask")``.
    Use it for transformers whose output for a clip does not depend on the other
    clips, such as :class:`~sklearn_hallu.LogMelTransformer`; then the result
    equals ``transformer.transform(X)``.

    Parameters
    ----------
    transformer : fitted transformer
        Any object with a ``transform`` method. It is pickled to the workers,
        once per chunk.
    X : array-like of shape (n_clips, ...), or sequence of clips or file paths
        The input, split along its first axis. File paths must be readable from
        every worker, e.g. on a shared file system.
    n_chunks : int or None, default=None
        Number of chunks. ``None``: four per parallel job
        (``4 * joblib.effective_n_jobs(n_jobs)``), so that fast workers take
        more chunks. When the transformer has an integer ``batch_size`` (as
        ``LogMelTransformer`` does), the chunks are cut at multiples of it, so
        that every batch holds the same clips as in one ``transform`` call, and
        there are at most ``ceil(n_clips / batch_size)`` chunks.
    n_jobs : int or None, default=None
        Passed to ``joblib.Parallel``. ``None`` leaves it to the active backend
        (one job when none is set; all the cluster's worker threads with Dask).
    verbose : int, default=0
        Passed to ``joblib.Parallel``.

    Returns
    -------
    Xt : ndarray
        The chunks' outputs concatenated along the first axis, in input order.

    Raises
    ------
    TypeError
        If ``transformer`` is a class or has no ``transform`` method, or ``X`` is a single
        path or has no length.
    ValueError
        If ``X`` is empty, ``n_chunks`` is not a positive integer, or the chunks'
        outputs cannot be joined (different shapes past the first axis).

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_hallu import LogMelTransformer
    >>> from sklearn_hallu.parallel import transform_in_parallel
    >>> X = np.random.default_rng(0).normal(size=(10, 4000)).astype("float32")
    >>> logmel = LogMelTransformer(sr=8000, n_mels=16, n_fft=256, hop_length=128,
    ...                            fmax=4000.0, duration=0.5)
    >>> S = transform_in_parallel(logmel, X, n_chunks=3)
    >>> S.shape, bool(np.array_equal(S, logmel.transform(X)))
    ((10, 16, 32), True)

    On a Dask cluster (``pip install "sklearn-hallu[dask]"``)::

        from dask.distributed import Client
        from joblib import parallel_config

        client = Client("tcp://scheduler:8786")
        with parallel_config(backend="dask"):
            S = transform_in_parallel(logmel, files)
    """
    if isinstance(transformer, type):
        raise TypeError(
            f"transformer must be an instance, got the class {transformer.__name__}. "
            f"Pass {transformer.__name__}(...) with its parameters."
        )
    if not callable(getattr(transformer, "transform", None)):
        raise TypeError(
            f"transformer must have a transform method; got {type(transformer).__name__}. "
            "Pass a transformer such as LogMelTransformer(), not a function."
        )
    if n_chunks is not None and (
        isinstance(n_chunks, bool) or not isinstance(n_chunks, Integral) or n_chunks < 1
    ):
        raise ValueError(f"n_chunks must be a positive integer or None, got {n_chunks!r}.")
    n = _n_items(X)
    if n == 0:
        raise ValueError("X holds no clips; pass at least one clip or file path.")
    if not hasattr(X, "__getitem__"):  # e.g. a set or dict view: fix an order
        X = list(X)
    if n_chunks is None:
        n_chunks = 4 * effective_n_jobs(n_jobs)
    align = getattr(transformer, "batch_size", None)
    if isinstance(align, bool) or not isinstance(align, Integral) or align < 1:
        align = 1
    bounds = _chunk_bounds(n, int(n_chunks), int(align))

    def piece(a, b):
        if hasattr(X, "iloc"):  # pandas: rows by position
            return X.iloc[a:b]
        if hasattr(X, "shape"):
            return X[a:b]
        return list(X[a:b])

    outs = Parallel(n_jobs=n_jobs, verbose=verbose)(
        delayed(_transform_chunk)(transformer, piece(a, b)) for a, b in bounds
    )
    if len(outs) == 1:
        return outs[0]
    shapes = {np.shape(o)[1:] for o in outs}
    if len(shapes) > 1:
        raise ValueError(
            "The chunks' outputs have different shapes past the first axis "
            f"({sorted(shapes)}), so they cannot be concatenated. Give the transformer a "
            "fixed output size (e.g. LogMelTransformer(duration=...)), or call "
            "transformer.transform(X) on the whole input."
        )
    return np.concatenate(outs, axis=0)
