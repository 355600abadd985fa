"""Open-set few-shot classification: answer "none of these" for clips of no support class.

A prototypical network assigns every query to its nearest prototype, however far
that is. :class:`OpenSetClassifier` wraps a fitted model, takes a support set,
and refuses a clip whose squared distance to the nearest prototype is larger than
a threshold calibrated on the support set alone (leave-one-out: each support
clip against its class's prototype made without it), so no test label is read.
:func:`open_set_report` measures it the standard way: AUROC of known vs unknown
clips, and accuracy on the known classes at a fixed false-alarm rate.

.. versionadded:: 0.2.0
"""

from __future__ import annotations

import copy
from numbers import Real

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.metrics import roc_auc_score
from sklearn.utils.validation import check_is_fitted

from ._support import check_inductive, embed, final_estimator, fit_support

__all__ = ["OpenSetClassifier", "open_set_report", "leave_one_out_distances"]


def _sq_distances(emb, protos):
    """``(n_clips, n_classes)`` squared Euclidean distances."""
    emb, protos = np.asarray(emb, dtype=np.float64), np.asarray(protos, dtype=np.float64)
    return ((emb[:, None, :] - protos[None, :, :]) ** 2).sum(axis=-1)


def leave_one_out_distances(emb, y):
    """Each clip's squared distance to its class's prototype made without it.

    Parameters
    ----------
    emb : ndarray of shape (n_clips, embedding_dim)
        Support embeddings, as the model compares them.
    y : ndarray of shape (n_clips,)
        Their labels.

    Returns
    -------
    ndarray
        One distance per clip of a class with at least 2 clips (1-shot classes
        have no prototype without their clip and give none).
    """
    emb = np.asarray(emb, dtype=np.float64)
    out = []
    for c in np.unique(y):
        e = emb[y == c]
        n = len(e)
        if n < 2:
            continue
        loo = (e.sum(axis=0)[None, :] - e) / (n - 1)
        out.append(((e - loo) ** 2).sum(axis=1))
    return np.concatenate(out) if out else np.empty(0)


class OpenSetClassifier(ClassifierMixin, BaseEstimator):
    """A fitted few-shot model that can say "none of these".

    ``fit(X_support, y_support)`` gives a copy of ``estimator`` the support set
    (:func:`~sklearn_hallu.fit_support`: the backbones are not retrained) and
    calibrates the rejection threshold on it; ``predict`` returns the nearest
    support class, or ``unknown_label`` when the clip is farther from every
    prototype than the threshold.

    Read more in the :doc:`User Guide </user_guide>`.

    .. versionadded:: 0.2.0

    Parameters
    ----------
    estimator : HalluAudioClassifier or Pipeline
        A fitted model (a classifier, or a Pipeline ending in one). It is
        copied, never changed.
    unknown_label : object, default=-1
        What ``predict`` returns for a refused clip. Choose a value of the type
        of your labels that is not one of them (e.g. ``"unknown"`` for strings).
    quantile : float in (0, 1], default=0.95
        The threshold is this quantile of the support clips' leave-one-out
        distances: about ``1 - quantile`` of the clips of a known class are
        refused. Needs a class with at least 2 support clips.
    threshold : float or None, default=None
        A squared distance to use instead of the calibration (e.g. chosen on
        held-out base classes for 1-shot support sets).

    Attributes
    ----------
    estimator_ : HalluAudioClassifier or Pipeline
        The copy that holds the support set's prototypes.
    classes_ : ndarray of shape (n_classes,)
        The support classes.
    threshold_ : float
        The squared distance above which a clip is refused.
    calibration_distances_ : ndarray
        The leave-one-out distances the threshold was taken from (empty when
        ``threshold`` was given).

    See Also
    --------
    open_set_report : AUROC and accuracy at a fixed false-alarm rate.
    sklearn_hallu.fit_support : Closed-set support sets.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_hallu import HalluAudioClassifier
    >>> from sklearn_hallu.open_set import OpenSetClassifier
    >>> rng = np.random.RandomState(0)
    >>> X = rng.rand(40, 1, 8, 16).astype(np.float32)
    >>> y = np.repeat(np.arange(4), 10)
    >>> X[y == 3] += 3.0                 # class 3 is unlike the others
    >>> clf = HalluAudioClassifier(train_backbone=False, channels=(4, 4, 4),
    ...                            standardize=False, random_state=0).fit(X, y)
    >>> open_clf = OpenSetClassifier(clf).fit(X[y < 3], y[y < 3])
    >>> float(np.mean(open_clf.predict(X[y == 3]) == -1))
    1.0
    """

    def __init__(self, estimator, *, unknown_label=-1, quantile=0.95, threshold=None):
        self.estimator = estimator
        self.unknown_label = unknown_label
        self.quantile = quantile
        self.threshold = threshold

    def _check_params(self):
        if not isinstance(self.quantile, Real) or not 0 < self.quantile <= 1:
            raise ValueError(f"quantile must be a number in (0, 1], got {self.quantile!r}.")
        if self.threshold is not None and (not isinstance(self.threshold, Real)
                                           or self.threshold < 0):
            raise ValueError(f"threshold must be a squared distance >= 0 or None, got "
                             f"{self.threshold!r}.")
        check_is_fitted(final_estimator(self.estimator), "net_")

    def fit(self, X, y):
        """Take ``(X, y)`` as the support set and calibrate the threshold on it.

        Parameters
        ----------
        X : array-like
            Support clips, raw input of ``estimator``.
        y : array-like of shape (n_clips,)
            Their labels (at least 2 classes).

        Returns
        -------
        self : OpenSetClassifier
            The fitted classifier.
        """
        self._check_params()
        check_inductive(final_estimator(self.estimator), "OpenSetClassifier")
        y = np.asarray(y)
        if np.any(y == self.unknown_label):
            raise ValueError(f"unknown_label={self.unknown_label!r} is one of the support "
                             "labels; choose a value that no class uses.")
        self.estimator_ = fit_support(copy.deepcopy(self.estimator), X, y)
        self.classes_ = final_estimator(self.estimator_).classes_
        if self.threshold is not None:
            self.threshold_ = float(self.threshold)
            self.calibration_distances_ = np.empty(0)
            return self
        d = leave_one_out_distances(embed(self.estimator_, X), y)
        if d.size == 0:
            raise ValueError(
                "every support class has a single clip, so the threshold cannot be "
                "calibrated by leave-one-out. Give at least 2 clips of some class, or set "
                "threshold= (e.g. calibrated on held-out base classes).")
        self.calibration_distances_ = d
        self.threshold_ = float(np.quantile(d, self.quantile))
        return self

    def score_samples(self, X):
        """Score each clip: minus its squared distance to the nearest prototype.

        Higher is more "known"; ``predict`` refuses scores below ``-threshold_``.

        Parameters
        ----------
        X : array-like
            Clips, raw input of ``estimator``.

        Returns
        -------
        ndarray of shape (n_clips,)
            The score a threshold is taken on.
        """
        return -_sq_distances(embed(self.estimator_, X), self._prototypes()).min(axis=1)

    def _prototypes(self):
        """The support prototypes, from a fitted model that embeds clips one by one."""
        check_is_fitted(self, "threshold_")
        check_inductive(final_estimator(self.estimator_), "OpenSetClassifier")
        return final_estimator(self.estimator_).prototypes_

    def _predict_with(self, scores, nearest):
        out = np.asarray(self.classes_[nearest], dtype=object)
        out[scores < -self.threshold_] = self.unknown_label
        common = np.result_type(self.classes_.dtype, np.asarray(self.unknown_label).dtype)
        return out.astype(common) if common.kind in "iufUS" else out

    def predict(self, X):
        """The nearest support class, or ``unknown_label`` past the threshold.

        Parameters
        ----------
        X : array-like
            Clips, raw input of ``estimator``.

        Returns
        -------
        ndarray of shape (n_clips,)
            Labels of ``classes_`` or ``unknown_label``.
        """
        d = _sq_distances(embed(self.estimator_, X), self._prototypes())
        return self._predict_with(-d.min(axis=1), d.argmin(axis=1))


def open_set_report(model, X_known, y_known, X_unknown, *, false_alarm_rate=0.05):
    """Compute open-set metrics of a fitted :class:`OpenSetClassifier`.

    .. versionadded:: 0.2.0

    Parameters
    ----------
    model : OpenSetClassifier
        Fitted on a support set.
    X_known, y_known : array-like
        Query clips of the support classes and their labels.
    X_unknown : array-like
        Query clips of classes absent from the support set.
    false_alarm_rate : float, default=0.05
        Fraction of unknown clips that may be accepted for the fixed-rate accuracy.

    Returns
    -------
    dict
        ``auroc`` (known vs unknown, from :meth:`OpenSetClassifier.score_samples`);
        ``known_accuracy_at_far`` (a known clip counts when it is accepted and
        classified right, at the threshold that accepts ``false_alarm_rate`` of
        the unknown clips) with ``threshold_at_far``; and at the model's own
        calibrated threshold: ``known_accuracy``, ``known_rejected`` and
        ``unknown_rejected`` (fractions).
    """
    protos = model._prototypes()
    y_known = np.asarray(y_known)
    d_known = _sq_distances(embed(model.estimator_, X_known), protos)
    s_known, nearest = -d_known.min(axis=1), d_known.argmin(axis=1)
    s_unknown = model.score_samples(X_unknown)
    correct = model.classes_[nearest] == y_known
    auroc = roc_auc_score(np.r_[np.ones(len(s_known)), np.zeros(len(s_unknown))],
                          np.r_[s_known, s_unknown])
    t_far = float(np.quantile(s_unknown, 1 - false_alarm_rate))  # accepts ~far of unknowns
    accepted = s_known > t_far
    own = s_known >= -model.threshold_
    return {
        "auroc": float(auroc),
        "false_alarm_rate": float(false_alarm_rate),
        "known_accuracy_at_far": float(np.mean(correct & accepted)),
        "threshold_at_far": -t_far,
        "known_accuracy": float(np.mean(correct & own)),
        "known_rejected": float(np.mean(~own)),
        "unknown_rejected": float(np.mean(s_unknown < -model.threshold_)),
    }
