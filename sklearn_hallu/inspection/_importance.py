"""Frequency importance (the paper's Figure 4) and plots."""

from __future__ import annotations

import numpy as np

from .._support import embed, final_estimator, view_step
from ..sampling import episodic_accuracy

__all__ = ["frequency_importance", "plot_frequency_importance", "plot_views"]


def frequency_importance(
    estimator,
    X,
    y,
    *,
    classes=None,
    n_way=5,
    k_shot=5,
    n_query=5,
    n_episodes=500,
    low_view=None,
    high_view=None,
    random_state=0,
    embeddings=None,
    device=None,
):
    """Ratio of queries classified right by the high band alone vs the low band alone.

    Queries are classified in N-way K-shot episodes drawn from ``(X, y)``,
    once with only the high-band view's embedding and prototypes, once with
    only the low-band view's (the same episodes). Per class, the importance is
    ``n_correct_high / n_correct_low``: above 1 the high frequencies carry more
    of the class, below 1 the low ones (HalluAudio, Section 3.4). Each view's queries are
    classified by the nearest prototype whatever the estimator's ``embedding_norm``
    (label propagation, ``"batch_label_propagated_l2"``, is not applied per view).

    Parameters
    ----------
    estimator : HalluAudioClassifier or Pipeline
        A fitted classifier with band views, or a fitted Pipeline ending in one.
    X : array-like
        Clips (raw input of the estimator).
    y : array-like of shape (n_clips,)
        Their labels.
    classes : list of labels or None, default=None
        Restrict the episodes to these classes (the paper uses 5).
    n_way : int, default=5
        Classes per episode.
    k_shot : int, default=5
        Supports per class.
    n_query : int, default=5
        Queries per class.
    n_episodes : int, default=500
        Episodes.
    low_view : int or None, default=None
        View index of the low band. ``None``: the lowest band of the Pipeline's
        fitted FrequencyMaskTransformer (``bands_hz_``), or view 1 for a bare
        classifier.
    high_view : int or None, default=None
        View index of the high band. ``None``: the highest band of the
        Pipeline's FrequencyMaskTransformer, or view 2 for a bare classifier.
    random_state : int, default=0
        Seeds the episodes.
    embeddings : ndarray or None, default=None
        Precomputed embeddings of X.
    device : str or None, default=None
        Torch device for the episode arithmetic.

    Returns
    -------
    result : dict
        ``classes``, ``correct_high``, ``correct_low``, ``ratio`` (arrays per class).
    """
    clf = final_estimator(estimator)
    low_view, high_view = _band_views(estimator, low_view, high_view)
    emb = embed(estimator, X) if embeddings is None else embeddings
    y = np.asarray(y)
    if classes is not None:
        keep = np.isin(y, classes)
        emb, y = emb[keep], y[keep]
    if clf.n_views_ <= max(low_view, high_view):
        raise ValueError(
            f"The classifier has {clf.n_views_} view(s); low_view={low_view} and "
            f"high_view={high_view} need band views. Fit it after FrequencyMaskTransformer."
        )
    labels = np.unique(y)
    kw = dict(n_way=min(n_way, len(labels)), k_shot=k_shot, n_query=n_query,
              n_episodes=n_episodes, random_state=random_state, device=device)
    high = episodic_accuracy(emb, y, dims=clf.view_slices_[high_view], **kw)
    low = episodic_accuracy(emb, y, dims=clf.view_slices_[low_view], **kw)
    ch = np.array([high.correct[high.query_class == c].sum() for c in labels])
    cl = np.array([low.correct[low.query_class == c].sum() for c in labels])
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.where(cl > 0, ch / np.maximum(cl, 1), np.inf)
    return {"classes": labels, "correct_high": ch, "correct_low": cl, "ratio": ratio}


def _band_views(estimator, low_view, high_view):
    """Indices of the low and high band views: given, from the band metadata, or 1 and 2."""
    masks = view_step(estimator)
    if masks is None or (low_view is not None and high_view is not None):
        return (1 if low_view is None else low_view), (2 if high_view is None else high_view)
    if masks.bands_hz_ is None:
        raise ValueError(
            "The Pipeline's views are not frequency bands (axis='time'): frequency "
            "importance compares a low and a high band. Use axis='frequency'."
        )
    first = len(masks.view_names_) - len(masks.bands_hz_)  # 1 when the whole comes first
    order = np.argsort([low for low, _ in masks.bands_hz_])
    low = first + int(order[0]) if low_view is None else low_view
    high = first + int(order[-1]) if high_view is None else high_view
    return low, high


def plot_frequency_importance(result, ax=None, title="Frequency importance"):
    """Bar chart of ``frequency_importance`` ratios on a log scale (1 = equal).

    Parameters
    ----------
    result : dict
        The output of :func:`frequency_importance` (``classes`` and ``ratio``).
    ax : matplotlib.axes.Axes or None, default=None
        Where to draw; a new figure when None.
    title : str, default="Frequency importance"
        Title of the chart.

    Returns
    -------
    ax : matplotlib.axes.Axes
        The chart.
    """
    import matplotlib.pyplot as plt

    if ax is None:
        _, ax = plt.subplots(figsize=(6, 3.2))
    names = [str(c) for c in result["classes"]]
    ratio = np.asarray(result["ratio"], dtype=float)
    colors = ["tab:orange" if r > 1 else "tab:blue" for r in ratio]
    ax.bar(names, ratio, color=colors)
    ax.axhline(1.0, color="k", lw=0.8)
    ax.set_yscale("log")
    ax.set_ylabel("correct(high) / correct(low)")
    ax.set_title(title)
    ax.tick_params(axis="x", rotation=30)
    ax.figure.tight_layout()
    return ax


def plot_views(views, *, titles=None, axes=None, sr=None):
    """Show one clip's views (whole, low, high, ...) side by side.

    All views share one colour scale, from the smallest to the largest finite
    value. Masked cells written as NaN (``FrequencyMaskTransformer``'s default
    ``fill="nan"``) are drawn in light grey, apart from the magma colours of
    the spectrogram.

    .. versionchanged:: 0.2.0
       NaN cells no longer make the colour scale NaN, which drew blank images.

    Parameters
    ----------
    views : ndarray of shape (n_views, n_mels, n_frames)
        One clip's views; NaN marks masked cells.
    titles : list of str or None, default=None
        One title per view (default: "whole", "view 1", ...); a fitted
        FrequencyMaskTransformer's ``view_names_`` fit here.
    axes : array of matplotlib.axes.Axes or None, default=None
        Where to draw; a new figure when None.
    sr : int or None, default=None
        Unused; kept for compatibility.

    Returns
    -------
    axes : ndarray of matplotlib.axes.Axes
        One image per view.
    """
    import matplotlib.pyplot as plt

    views = np.asarray(views)
    n = views.shape[0]
    if axes is None:
        _, axes = plt.subplots(1, n, figsize=(3.2 * n, 3), sharey=True)
    axes = np.atleast_1d(axes)
    titles = titles or (["whole"] + [f"view {i}" for i in range(1, n)])
    finite = views[np.isfinite(views)]
    vmin, vmax = (finite.min(), finite.max()) if finite.size else (0.0, 1.0)
    cmap = plt.get_cmap("magma").with_extremes(bad="0.85")  # masked (NaN): light grey
    for ax, v, t in zip(axes, views, titles):
        ax.imshow(v, origin="lower", aspect="auto", vmin=vmin, vmax=vmax, cmap=cmap)
        ax.set_title(t)
        ax.set_xlabel("frame")
    axes[0].set_ylabel("mel row")
    axes[0].figure.tight_layout()
    return axes
