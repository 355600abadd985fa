"""Open-set scorer: episodes with classes absent from the support set.

Each episode holds ``n_way`` known classes (supports and queries) and
``n_unknown_way`` other classes of the fold (queries only). A query's score is
minus its squared distance to the nearest known prototype, the rule of
:class:`~sklearn_hallu.open_set.OpenSetClassifier`; the episode gives the AUROC
of known against unknown queries, the closed-set accuracy, the known accuracy
at a fixed false-alarm rate and, with 2 or more supports per class, the
rejection rates at the leave-one-out calibrated threshold.

.. versionadded:: 0.2.0
"""

from __future__ import annotations

from dataclasses import dataclass
from numbers import Integral, Real

import numpy as np
from sklearn.metrics import roc_auc_score
from sklearn.utils import check_random_state

from .._support import embed
from ..open_set import leave_one_out_distances
from ..sampling import check_episode_feasible

__all__ = ["OpenSetScorer", "OpenSetResult"]

#: The metrics of :class:`OpenSetResult`, in the order of :meth:`OpenSetResult.as_dict`.
METRICS = ("auroc", "accuracy", "known_accuracy_at_far", "known_rejected", "unknown_rejected")
#: The metrics ``OpenSetScorer(metric=...)`` can return as a score (higher is better).
SCORING_METRICS = ("auroc", "known_accuracy_at_far")


@dataclass
class OpenSetResult:
    """Per-episode outcome of an open-set episodic evaluation.

    .. versionadded:: 0.2.0

    Each metric is a property (the mean over episodes) and has a 95% interval,
    :meth:`ci95`.

    Parameters
    ----------
    episode_auroc : ndarray of shape (n_episodes,)
        AUROC of known against unknown queries, by score.
    episode_accuracy : ndarray of shape (n_episodes,)
        Closed-set accuracy on the known queries (nearest known prototype).
    episode_known_accuracy_at_far : ndarray of shape (n_episodes,)
        Fraction of known queries classified right and scored above the
        threshold that accepts ``false_alarm_rate`` of the episode's unknown
        queries (as :func:`~sklearn_hallu.open_set.open_set_report`).
    episode_known_rejected : ndarray of shape (n_episodes,)
        Fraction of known queries refused at the leave-one-out threshold
        (``quantile`` of the supports' leave-one-out distances). All NaN when
        ``k_shot == 1``: a single support leaves nothing to calibrate on.
    episode_unknown_rejected : ndarray of shape (n_episodes,)
        Fraction of unknown queries refused at that threshold (NaN likewise).
    n_way, k_shot, n_unknown_way : int
        The episodes' shape.
    false_alarm_rate : float
        The false-alarm rate of ``known_accuracy_at_far``.
    quantile : float
        The quantile of the leave-one-out threshold.
    """

    episode_auroc: np.ndarray
    episode_accuracy: np.ndarray
    episode_known_accuracy_at_far: np.ndarray
    episode_known_rejected: np.ndarray
    episode_unknown_rejected: np.ndarray
    n_way: int
    k_shot: int
    n_unknown_way: int
    false_alarm_rate: float
    quantile: float

    @property
    def n_episodes(self) -> int:
        return len(self.episode_auroc)

    @property
    def auroc(self) -> float:
        return float(np.mean(self.episode_auroc))

    @property
    def accuracy(self) -> float:
        return float(np.mean(self.episode_accuracy))

    @property
    def known_accuracy_at_far(self) -> float:
        return float(np.mean(self.episode_known_accuracy_at_far))

    @property
    def known_rejected(self) -> float:
        return float(np.mean(self.episode_known_rejected))

    @property
    def unknown_rejected(self) -> float:
        return float(np.mean(self.episode_unknown_rejected))

    def ci95(self, metric="auroc"):
        """Half-width of a 95% interval of a metric's mean: 1.96 sd / sqrt(n_episodes).

        Parameters
        ----------
        metric : str, default="auroc"
            One of ``"auroc"``, ``"accuracy"``, ``"known_accuracy_at_far"``,
            ``"known_rejected"``, ``"unknown_rejected"``.

        Returns
        -------
        float
            The half-width (sample sd over episodes); NaN for a single episode
            and for the leave-one-out metrics when ``k_shot == 1``.
        """
        if metric not in METRICS:
            raise ValueError(f"metric must be one of {METRICS!r}, got {metric!r}.")
        a = np.asarray(getattr(self, f"episode_{metric}"), dtype=float)
        if len(a) < 2 or np.isnan(a).any():
            return float("nan")
        return float(1.96 * a.std(ddof=1) / np.sqrt(len(a)))

    def as_dict(self):
        """The means and intervals, JSON-ready.

        Returns
        -------
        dict
            ``n_way``, ``k_shot``, ``n_unknown_way``, ``n_episodes``,
            ``false_alarm_rate``, ``quantile``, and for each metric its mean and
            ``<metric>_ci95`` (fractions). NaN (the leave-one-out metrics when
            ``k_shot == 1``) is given as None, so the dict is valid JSON.
        """
        out = {"n_way": int(self.n_way), "k_shot": int(self.k_shot),
               "n_unknown_way": int(self.n_unknown_way), "n_episodes": self.n_episodes,
               "false_alarm_rate": float(self.false_alarm_rate),
               "quantile": float(self.quantile)}
        for m in METRICS:
            out[m], out[f"{m}_ci95"] = getattr(self, m), self.ci95(m)
        return {k: (None if isinstance(v, float) and np.isnan(v) else v)
                for k, v in out.items()}


def _check_count(name, value, minimum):
    if isinstance(value, bool) or not isinstance(value, Integral) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}.")


class OpenSetScorer:
    """Open-set episodic scores on the classes of a (validation) fold.

    Each episode draws ``n_way`` known classes and ``n_unknown_way`` other
    classes of the fold; ``k_shot`` supports per known class, and ``n_query``
    queries from each known and each unknown class (never a support). A
    query's score is minus its squared distance to the nearest known prototype
    (in the embeddings of :func:`~sklearn_hallu.embed`, the model's own rule),
    as :meth:`~sklearn_hallu.open_set.OpenSetClassifier.score_samples`. Per episode:
    the AUROC of known against unknown queries, the closed-set accuracy, the
    known accuracy at ``false_alarm_rate`` (see :class:`OpenSetResult`) and,
    when ``k_shot >= 2``, the fractions of known and unknown queries refused at
    the threshold an :class:`~sklearn_hallu.open_set.OpenSetClassifier` would
    calibrate on the episode's supports (NaN when ``k_shot == 1``). The closed-set
    accuracy is the nearest prototype's for every ``embedding_norm`` (label propagation's
    decision gives no distance to threshold).

    Usable as ``scoring=`` in ``cross_val_score`` and ``GridSearchCV`` with
    class-disjoint folds (:class:`ClassKFold`): called as
    ``scorer(estimator, X, y)`` it returns the mean of ``metric``.

    .. versionadded:: 0.2.0

    Parameters
    ----------
    n_way : int, default=5
        Known classes per episode.
    k_shot : int, default=1
        Supports per known class.
    n_unknown_way : int or None, default=None
        Unknown classes per episode; None: ``min(n_way, n_classes - n_way)``
        of the fold scored. The fold needs ``n_way + n_unknown_way`` classes.
    n_query : int, default=5
        Queries per known and per unknown class.
    n_episodes : int, default=300
        Episodes.
    false_alarm_rate : float in (0, 1), default=0.05
        Fraction of unknown queries accepted by the threshold of
        ``known_accuracy_at_far``.
    quantile : float in (0, 1], default=0.95
        Quantile of the supports' leave-one-out distances taken as the
        rejection threshold (as in ``OpenSetClassifier``).
    metric : {"auroc", "known_accuracy_at_far"}, default="auroc"
        What calling the scorer returns.
    random_state : int, RandomState instance or None, default=0
        Seeds the episodes; a fixed seed scores every candidate of a search on
        the same episodes.

    See Also
    --------
    FewShotScorer : Closed-set episodic accuracy.
    sklearn_hallu.open_set.open_set_report : The same measures for one support set.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_hallu.model_selection import OpenSetScorer
    >>> rng = np.random.RandomState(0)
    >>> y = np.repeat(np.arange(8), 10)
    >>> emb = 10 * rng.normal(size=(8, 16))[y] + rng.normal(size=(80, 16))
    >>> res = OpenSetScorer(n_way=3, k_shot=5, n_episodes=20).evaluate_embeddings(emb, y)
    >>> bool(res.auroc > 0.95), res.n_unknown_way
    (True, 3)
    """

    def __init__(self, n_way=5, k_shot=1, *, n_unknown_way=None, n_query=5, n_episodes=300,
                 false_alarm_rate=0.05, quantile=0.95, metric="auroc", random_state=0):
        self.n_way = n_way
        self.k_shot = k_shot
        self.n_unknown_way = n_unknown_way
        self.n_query = n_query
        self.n_episodes = n_episodes
        self.false_alarm_rate = false_alarm_rate
        self.quantile = quantile
        self.metric = metric
        self.random_state = random_state

    def _check_params(self):
        _check_count("n_way", self.n_way, 2)
        _check_count("k_shot", self.k_shot, 1)
        if self.n_unknown_way is not None:
            _check_count("n_unknown_way", self.n_unknown_way, 1)
        _check_count("n_query", self.n_query, 1)
        _check_count("n_episodes", self.n_episodes, 1)
        far = self.false_alarm_rate
        if isinstance(far, bool) or not isinstance(far, Real) or not 0 < far < 1:
            raise ValueError(f"false_alarm_rate must be a number in (0, 1), got {far!r}.")
        q = self.quantile
        if isinstance(q, bool) or not isinstance(q, Real) or not 0 < q <= 1:
            raise ValueError(f"quantile must be a number in (0, 1], got {q!r}.")
        if self.metric not in SCORING_METRICS:
            raise ValueError(f"metric must be one of {SCORING_METRICS!r}, got "
                             f"{self.metric!r}.")

    def _check_fold(self, y, what="y"):
        """The number of unknown classes per episode; a ValueError when ``y`` cannot give one."""
        self._check_params()
        n_classes = len(np.unique(np.asarray(y)))
        left = n_classes - self.n_way
        n_unknown = min(self.n_way, left) if self.n_unknown_way is None else self.n_unknown_way
        if left < 1 or n_unknown > left:
            need = self.n_way + max(n_unknown, 1)
            asked = ("at least 1 unknown class" if self.n_unknown_way is None
                     else f"n_unknown_way={self.n_unknown_way} unknown classes")
            ways = [f"n_way at most {n_classes - max(n_unknown, 1)}"] * (
                n_classes - max(n_unknown, 1) >= 2)
            ways += [f"n_unknown_way at most {left}"] * (self.n_unknown_way is not None
                                                         and left >= 1)
            ways.append(f"folds of at least {need} classes (ClassKFold(..., "
                        f"min_classes={need}) checks every fold before any fit)")
            raise ValueError(
                f"{self!r} cannot score {what}: it holds {n_classes} classes, and an "
                f"open-set episode needs n_way={self.n_way} known classes plus {asked} "
                f"({need} in all). Use " + ", or ".join(ways) + ".")
        try:
            check_episode_feasible(y, self.n_way, self.k_shot, self.n_query, what=what)
        except ValueError as exc:
            raise ValueError(f"{self!r} cannot score {what}: {exc}") from None
        return n_unknown

    def evaluate(self, estimator, X, y) -> OpenSetResult:
        """Score a fitted estimator on open-set episodes of ``(X, y)``.

        The fold is checked before anything is embedded; the clips are embedded once.

        Parameters
        ----------
        estimator : HalluAudioClassifier or Pipeline
            Fitted; its transformers turn ``X`` into views.
        X : array-like
            Clips (raw input of the estimator).
        y : array-like of shape (n_clips,)
            Their labels.

        Returns
        -------
        OpenSetResult
            Per-episode metrics.
        """
        try:
            self._check_fold(y, what="this test fold")
        except ValueError as exc:
            raise ValueError(
                f"{exc} GridSearchCV and cross_val_score record this score as NaN; "
                "error_score='raise' stops at the first failure.") from None
        return self.evaluate_embeddings(embed(estimator, X), y)

    def evaluate_embeddings(self, emb, y) -> OpenSetResult:
        """Score embeddings already computed, like :meth:`evaluate`.

        Parameters
        ----------
        emb : ndarray of shape (n_clips, embedding_dim)
            Embeddings of the clips, as the model compares them
            (:func:`~sklearn_hallu.embed`).
        y : array-like of shape (n_clips,)
            Their labels.

        Returns
        -------
        OpenSetResult
            Per-episode metrics.
        """
        y = np.asarray(y)
        n_unknown = self._check_fold(y)
        emb = np.asarray(emb, dtype=np.float64)
        if emb.ndim != 2 or len(emb) != len(y):
            raise ValueError(f"emb must be 2-D with one row per label: got shape "
                             f"{emb.shape} for {len(y)} labels.")
        _, y_idx = np.unique(y, return_inverse=True)
        members = [np.flatnonzero(y_idx == c) for c in range(y_idx.max() + 1)]
        rng = check_random_state(self.random_state)
        rows = [self._episode(emb, members, n_unknown, rng) for _ in range(self.n_episodes)]
        cols = np.asarray(rows, dtype=float).T
        return OpenSetResult(*cols, n_way=self.n_way, k_shot=self.k_shot,
                             n_unknown_way=n_unknown,
                             false_alarm_rate=float(self.false_alarm_rate),
                             quantile=float(self.quantile))

    def _episode(self, emb, members, n_unknown, rng):
        """One episode's ``(auroc, accuracy, known_acc_at_far, known_rej, unknown_rej)``."""
        k, q = self.k_shot, self.n_query
        chosen = rng.choice(len(members), self.n_way + n_unknown, replace=False)
        known = np.stack([rng.choice(members[c], k + q, replace=False)
                          for c in chosen[: self.n_way]])        # (n_way, k + q)
        unknown = np.concatenate([rng.choice(members[c], q, replace=False)
                                  for c in chosen[self.n_way:]])
        sup = emb[known[:, :k]]                                  # (n_way, k, dim)
        protos = sup.mean(axis=1)
        d_known = _sq_distances(emb[known[:, k:].ravel()], protos)
        s_known, s_unknown = -d_known.min(axis=1), -_sq_distances(emb[unknown], protos).min(1)
        correct = d_known.argmin(axis=1) == np.repeat(np.arange(self.n_way), q)
        auroc = roc_auc_score(np.r_[np.ones(len(s_known)), np.zeros(len(s_unknown))],
                              np.r_[s_known, s_unknown])
        t_far = np.quantile(s_unknown, 1 - self.false_alarm_rate)  # accepts ~far of unknowns
        at_far = np.mean(correct & (s_known > t_far))
        if k < 2:
            return auroc, correct.mean(), at_far, np.nan, np.nan
        loo = leave_one_out_distances(sup.reshape(self.n_way * k, -1), np.repeat(
            np.arange(self.n_way), k))
        threshold = np.quantile(loo, self.quantile)
        return (auroc, correct.mean(), at_far, np.mean(s_known < -threshold),
                np.mean(s_unknown < -threshold))

    def __call__(self, estimator, X, y, sample_weight=None):
        """The mean of ``metric`` over the episodes of ``(X, y)`` (``sample_weight`` unused)."""
        return getattr(self.evaluate(estimator, X, y), self.metric)

    def __repr__(self):
        unknown = "" if self.n_unknown_way is None else f", n_unknown_way={self.n_unknown_way}"
        return (f"OpenSetScorer(n_way={self.n_way}, k_shot={self.k_shot}{unknown}, "
                f"metric={self.metric!r})")


def _sq_distances(emb, protos):
    """``(n_clips, n_classes)`` squared Euclidean distances."""
    return ((emb[:, None, :] - protos[None, :, :]) ** 2).sum(axis=-1)
