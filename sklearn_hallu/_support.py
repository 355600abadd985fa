"""Novel classes at the end of a Pipeline."""

from __future__ import annotations

from sklearn.pipeline import Pipeline

__all__ = ["fit_support", "final_estimator", "embed"]


def final_estimator(estimator):
    """The classifier at the end of ``estimator`` (itself if it is not a Pipeline)."""
    return estimator[-1] if isinstance(estimator, Pipeline) else estimator


def _transform_head(estimator, X):
    if isinstance(estimator, Pipeline):
        for _, step in estimator.steps[:-1]:
            if step is not None and step != "passthrough":
                X = step.transform(X)
    return X


def embed(estimator, X):
    """Embeddings of raw input ``X`` through a fitted Pipeline (or classifier)."""
    return final_estimator(estimator).embed(_transform_head(estimator, X))


def fit_support(estimator, X, y):
    """Make a fitted classifier or Pipeline answer among the classes of ``(X, y)``.

    The support clips pass through the Pipeline's transformers, then the
    classifier's :meth:`~sklearn_hallu.HalluAudioClassifier.fit_support` stores
    their prototypes. The backbones are not retrained.

    Parameters
    ----------
    estimator : fitted HalluAudioClassifier or Pipeline ending in one
    X : raw input the estimator accepts (waveforms, file paths, spectrograms)
    y : array-like of labels, at least 2 classes

    Returns
    -------
    estimator : the same object, now predicting among ``np.unique(y)``
    """
    final_estimator(estimator).fit_support(_transform_head(estimator, X), y)
    return estimator
