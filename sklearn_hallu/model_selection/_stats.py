"""Confidence intervals that respect the clips, and paired gains between two models.

Repeated passes over the same test clips are not independent queries: each
clip's outcomes are averaged first, and the spread is taken over clips. Two
models tested on the same episodes pair up clip by clip; several seeds add a
second, coarser spread (a t-interval over the seeds' means).
"""

from __future__ import annotations

import numpy as np

__all__ = ["clip_ci95", "seeds_ci95", "paired_clip_gain"]


def clip_ci95(per_clip):
    """Half-width of a 95% CI of the mean over clips: ``1.96 * sd / sqrt(n_clips)``.

    Repeated passes over the same clips are not independent queries; averaging
    each clip's outcomes first, then taking the spread over clips, respects that.

    Parameters
    ----------
    per_clip : array-like of shape (n_clips,)
        Each clip's accuracy (or a paired difference), averaged over passes.

    Returns
    -------
    float
        The half-width, in the units of ``per_clip``; NaN for fewer than 2 clips.
    """
    a = np.asarray(per_clip, dtype=float)
    return float(1.96 * a.std(ddof=1) / np.sqrt(len(a))) if len(a) > 1 else float("nan")


def seeds_ci95(values):
    """Half-width of a 95% t-interval of the mean of per-seed values (NaN for one seed).

    .. versionadded:: 0.2.0

    Parameters
    ----------
    values : array-like of shape (n_seeds,)
        One number per seed.

    Returns
    -------
    float
        ``t(0.975, n - 1) * sd / sqrt(n)``.

    See Also
    --------
    clip_ci95 : The interval over clips, within one seed.
    paired_clip_gain : Both intervals for the difference between two models.
    """
    from scipy.stats import t

    v = np.asarray(values, dtype=float)
    if len(v) < 2:
        return float("nan")
    return float(t.ppf(0.975, len(v) - 1) * v.std(ddof=1) / np.sqrt(len(v)))


def paired_clip_gain(pairs):
    """Gain of a model over a baseline tested on the same clips and episodes, in points.

    .. versionadded:: 0.2.0

    Parameters
    ----------
    pairs : sequence of (array-like, array-like)
        One pair per seed: the model's and the baseline's per-clip accuracies
        (fractions in [0, 1], each clip's mean over the passes, as
        ``FewShotReport`` rows hold them in ``per_clip``), on the same episodes.

    Returns
    -------
    dict
        ``gain`` (mean paired difference, points); ``ci95_clips``, over the
        clips' differences averaged over the seeds (:func:`clip_ci95`);
        ``ci95_seeds``, a t-interval of the per-seed gains (:func:`seeds_ci95`,
        NaN for one seed); ``per_seed``, the per-seed gains.

    Raises
    ------
    ValueError
        No pairs, or a pair whose two arrays differ in length (not the same clips).

    See Also
    --------
    FewShotReport.paired_gain : The same for two reports, setting by setting.

    Examples
    --------
    >>> from sklearn_hallu.model_selection import paired_clip_gain
    >>> g = paired_clip_gain([([1.0, 0.5, 1.0, 0.0], [0.5, 0.5, 1.0, 0.0])])
    >>> round(g["gain"], 2), round(g["ci95_clips"], 2)
    (12.5, 24.5)
    """
    pairs = list(pairs)
    if not pairs:
        raise ValueError("paired_clip_gain needs at least one (model, baseline) pair of "
                         "per-clip accuracies; got none.")
    d = []
    for i, (a, b) in enumerate(pairs):
        a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
        if a.shape != b.shape:
            raise ValueError(
                f"pair {i}: the model has {a.shape} per-clip accuracies and the baseline "
                f"{b.shape}; a paired gain needs both tested on the same clips (same "
                "clips, same random_state).")
        d.append(a - b)
    mean_d = np.mean(d, axis=0)
    per_seed = [100 * float(x.mean()) for x in d]
    return {"gain": 100 * float(mean_d.mean()), "ci95_clips": 100 * clip_ci95(mean_d),
            "ci95_seeds": seeds_ci95(per_seed), "per_seed": per_seed}
