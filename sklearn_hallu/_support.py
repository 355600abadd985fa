"""Novel classes at the end of a Pipeline."""

from __future__ import annotations

from sklearn.pipeline import Pipeline

__all__ = ["fit_support", "final_estimator", "embed", "fit_embedding_stats", "view_step"]


def check_inductive(clf, where):
    """Refuse a batch ``embedding_norm`` where clips are embedded in pieces.

    Parameters
    ----------
    clf : HalluAudioClassifier
        The classifier (the end of the model).
    where : str
        The function or class that asks, named in the error.
    """
    norm = getattr(clf, "embedding_norm", None)
    if isinstance(norm, str) and norm.startswith("batch_"):  # every transductive norm
        raise ValueError(
            f"{where} embeds clips in pieces (batches, windows or one support at a time), "
            f"but embedding_norm={norm!r} normalises the clips of each call by their own "
            "statistics, so each piece would get its own. Use embedding_norm="
            "'centered_l2' here: set_params on the classifier, then give the support set "
            "again (fit_support); for the command line, save the model again after that.")


def final_estimator(estimator):
    """Return the classifier at the end of ``estimator`` (itself if it is not a Pipeline).

    .. versionadded:: 0.2.0

    Parameters
    ----------
    estimator : estimator or Pipeline
        Any estimator.

    Returns
    -------
    estimator
        ``estimator[-1]`` for a Pipeline, else ``estimator``.
    """
    return estimator[-1] if isinstance(estimator, Pipeline) else estimator


def view_step(estimator):
    """The fitted step of a Pipeline that made the views (it has ``view_names_``), or None.

    That step (a fitted ``FrequencyMaskTransformer``) carries the views' band
    metadata: ``view_names_``, ``bands_hz_``, ``view_windows_``.
    """
    if not isinstance(estimator, Pipeline):
        return None
    found = [s for _, s in estimator.steps[:-1] if hasattr(s, "view_names_")]
    return found[-1] if found else None


def _transform_head(estimator, X):
    if isinstance(estimator, Pipeline):
        for _, step in estimator.steps[:-1]:
            if step is not None and step != "passthrough":
                X = step.transform(X)
    return X


def embed(estimator, X):
    """Compute the embeddings of raw input ``X`` through a fitted Pipeline (or classifier).

    .. versionadded:: 0.2.0

    Parameters
    ----------
    estimator : HalluAudioClassifier or Pipeline
        A fitted classifier, or a fitted Pipeline ending in one.
    X : array-like
        Raw input the estimator accepts (waveforms, file paths, spectrograms).

    Returns
    -------
    ndarray of shape (n_clips, embedding_dim)
        As :meth:`HalluAudioClassifier.embed` returns them (views concatenated).
    """
    return final_estimator(estimator).embed(_transform_head(estimator, X))


def fit_embedding_stats(estimator, X):
    """Compute the statistics of ``embedding_norm`` of the classifier at the end of ``estimator``.

    .. versionadded:: 0.2.0

    The clips pass through the Pipeline's transformers, then the classifier's
    :meth:`~sklearn_hallu.HalluAudioClassifier.fit_embedding_stats` stores their centre,
    scale and whitening. Give it the clips the model was trained on, or, for
    ``embedding_norm="whitened_l2"``, unlabelled clips of the domain to classify (a pool of
    other sounds of that domain does better than one that holds the sounds to classify:
    :ref:`whitening`). Then give the support set again (:func:`fit_support`).

    Parameters
    ----------
    estimator : HalluAudioClassifier or Pipeline
        A fitted classifier, or a fitted Pipeline ending in one.
    X : array-like
        Raw clips (waveforms, file paths, spectrograms); labels are not read.

    Returns
    -------
    estimator : HalluAudioClassifier or Pipeline
        The same object (see :meth:`HalluAudioClassifier.fit_embedding_stats`).
    """
    final_estimator(estimator).fit_embedding_stats(_transform_head(estimator, X))
    return estimator


def fit_support(estimator, X, y):
    """Make a fitted classifier or Pipeline answer among the classes of ``(X, y)``.

    The support clips pass through the Pipeline's transformers, then the
    classifier's :meth:`~sklearn_hallu.HalluAudioClassifier.fit_support` stores
    their prototypes. The backbones are not retrained.

    Parameters
    ----------
    estimator : HalluAudioClassifier or Pipeline
        A fitted classifier, or a fitted Pipeline ending in one.
    X : array-like
        Raw input the estimator accepts (waveforms, file paths, spectrograms).
    y : array-like of shape (n_clips,)
        Labels of at least 2 classes.

    Returns
    -------
    estimator : HalluAudioClassifier or Pipeline
        The same object, now predicting among ``np.unique(y)``.

    See Also
    --------
    fit_support_windows : The same for long clips, window by window.
    HalluAudioClassifier.fit_support : The classifier's own method.
    """
    final_estimator(estimator).fit_support(_transform_head(estimator, X), y)
    return estimator
