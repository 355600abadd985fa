"""Few-shot scorer and report: episodic accuracy of a fitted model."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .._support import embed, final_estimator
from ..sampling import EpisodeResult, check_episode_feasible, episodic_accuracy
from ._stats import clip_ci95, paired_clip_gain

__all__ = ["FewShotScorer", "few_shot_report", "FewShotReport"]


def decision_of(estimator):
    """How ``estimator`` classifies a query of an episode: ``"label_propagation"`` with
    ``embedding_norm="batch_label_propagated_l2"``, else ``"prototypes"``."""
    norm = getattr(final_estimator(estimator), "embedding_norm", None)
    return "label_propagation" if norm == "batch_label_propagated_l2" else "prototypes"


class FewShotScorer:
    """Episodic N-way K-shot accuracy on the classes of a (validation) fold.

    Usable as ``scoring=`` in ``cross_val_score``, ``cross_validate`` and
    ``GridSearchCV``: called as ``scorer(estimator, X, y)`` with a fitted
    :class:`~sklearn_hallu.HalluAudioClassifier` or a Pipeline ending in one,
    it embeds ``X`` (through the Pipeline's transformers), draws episodes from
    ``y`` with the library's episode sampler and classifies queries by the
    nearest prototype (the same routine training uses; by label propagation when the
    estimator's ``embedding_norm`` is ``"batch_label_propagated_l2"``). The fold's classes
    need not be known to the estimator: use class-disjoint folds
    (:class:`ClassKFold`, or ``GroupKFold`` with ``groups=y``) so they are not.

    Parameters
    ----------
    n_way : int, default=5
        Classes per episode.
    k_shot : int, default=1
        Supports per class.
    protocol : {"random", "paper"}, default="random"
        ``"random"``: ``n_episodes`` episodes of ``n_query`` queries per class.
        ``"paper"``: every clip of the fold is a query once per pass, supports
        from the rest of the fold; ``n_repeats`` passes.
    n_query : int, default=5
        Queries per class (``"random"``).
    n_episodes : int, default=300
        Episodes (``"random"``).
    n_repeats : int, default=5
        Passes over the fold (``"paper"``).
    random_state : int or None, default=0
        Seeds the episodes; a fixed seed scores every candidate of a search on
        the same episodes.
    device : str or None, default=None
        Torch device for the episode arithmetic (e.g. "cuda"); CPU by default.

    Examples
    --------
    >>> from sklearn_hallu.model_selection import FewShotScorer
    >>> scorer = FewShotScorer(n_way=5, k_shot=1)
    """

    def __init__(self, n_way=5, k_shot=1, *, protocol="random", n_query=5, n_episodes=300,
                 n_repeats=5, random_state=0, device=None):
        self.n_way = n_way
        self.k_shot = k_shot
        self.protocol = protocol
        self.n_query = n_query
        self.n_episodes = n_episodes
        self.n_repeats = n_repeats
        self.random_state = random_state
        self.device = device

    def evaluate(self, estimator, X, y, *, dims=None) -> EpisodeResult:
        """Score a fitted estimator on episodes of ``(X, y)``, query by query.

        Parameters
        ----------
        estimator : HalluAudioClassifier or Pipeline
            Fitted; its transformers turn ``X`` into views.
        X : array-like
            Clips (raw input of the estimator).
        y : array-like of shape (n_clips,)
            Their labels.
        dims : slice or None, default=None
            Use only these embedding dimensions (one view's slice, say).

        Returns
        -------
        EpisodeResult
            Per-query outcome (see :class:`~sklearn_hallu.sampling.EpisodeResult`).
        """
        if self.protocol not in ("random", "paper"):
            raise ValueError(f"protocol must be 'random' or 'paper', got {self.protocol!r}.")
        self._check_fold(y)  # before embedding: a fold that cannot be scored fails fast
        emb = embed(estimator, X)
        return self.evaluate_embeddings(emb, y, dims=dims, decision=decision_of(estimator))

    def evaluate_embeddings(self, emb, y, *, dims=None,
                            decision="prototypes") -> EpisodeResult:
        """Score embeddings already computed, like :meth:`evaluate`.

        Parameters
        ----------
        emb : ndarray of shape (n_clips, embedding_dim)
            Embeddings of the clips.
        y : array-like of shape (n_clips,)
            Their labels.
        dims : slice or None, default=None
            Use only these embedding dimensions.
        decision : {"prototypes", "label_propagation"}, default="prototypes"
            How a query is classified (:func:`~sklearn_hallu.sampling.episodic_accuracy`);
            :meth:`evaluate` takes the estimator's (label propagation with
            ``embedding_norm="batch_label_propagated_l2"``).

        Returns
        -------
        EpisodeResult
            Per-query outcome.
        """
        return episodic_accuracy(
            emb, y, n_way=self.n_way, k_shot=self.k_shot, protocol=self.protocol,
            n_query=self.n_query, n_episodes=self.n_episodes, n_repeats=self.n_repeats,
            random_state=self.random_state, dims=dims, device=self.device,
            decision=decision,
        )

    def _check_fold(self, y):
        """Refuse labels that cannot give an episode; the message says what to change.

        In a search or ``cross_val_score`` the error becomes scikit-learn's
        "Scoring failed" warning and a NaN score.
        """
        nan = ("GridSearchCV and cross_val_score record this score as NaN{}; "
               "error_score='raise' stops at the first failure.")
        n_classes = len(np.unique(np.asarray(y)))
        if n_classes < self.n_way:
            raise ValueError(
                f"{self!r} cannot score this test fold: it holds {n_classes} classes, fewer "
                f"than n_way={self.n_way}. Use fewer folds (ClassKFold(..., min_classes="
                f"{self.n_way}) checks every fold before any fit and says how many) or a "
                "smaller n_way. " + nan.format(
                    " (this fold fails for every candidate, so every mean score is NaN and "
                    "best_params_ means nothing)")
            )
        paper = self.protocol == "paper"
        try:
            check_episode_feasible(y, self.n_way, self.k_shot, 0 if paper else self.n_query,
                                   what="this test fold", exclude_self=paper)
        except ValueError as exc:
            raise ValueError(
                f"{self!r} cannot score this test fold: {exc} " + nan.format("")
            ) from None

    def __call__(self, estimator, X, y, sample_weight=None):
        return self.evaluate(estimator, X, y).accuracy

    def __repr__(self):
        return (
            f"FewShotScorer(n_way={self.n_way}, k_shot={self.k_shot}, "
            f"protocol={self.protocol!r})"
        )


@dataclass
class FewShotReport:
    """Few-shot accuracies for several (N, K) settings.

    Parameters
    ----------
    rows : list of dict, default=[]
        One per setting: ``setting``, ``n_way``, ``k_shot``, ``accuracy`` and
        ``ci95`` in percent, ``n_queries``, ``per_class`` (label -> percent).
        ``ci95`` is the paper's interval, 1.96 sd / sqrt(n) over all queries: it
        treats repeated passes over the same clips as independent and shrinks
        with the number of passes. With the paper protocol, rows also hold
        ``per_clip`` (each clip's accuracy over the passes) and ``ci95_clips``
        (1.96 sd / sqrt(n_clips) over them): use that one to claim a difference.
    """

    rows: list = field(default_factory=list)

    def as_dict(self):
        return {r["setting"]: {k: (v.tolist() if isinstance(v, np.ndarray) else v)
                               for k, v in r.items() if k != "setting"} for r in self.rows}

    def paired_gain(self, baseline):
        """Per setting, this report's gain over ``baseline``'s on the same clips and episodes.

        .. versionadded:: 0.2.0

        Both reports must come from :func:`few_shot_report` with
        ``protocol="paper"`` on the same clips, labels and ``random_state``
        (the episodes then depend on nothing else), so each clip's accuracies
        pair up.

        Parameters
        ----------
        baseline : FewShotReport
            The other model's report.

        Returns
        -------
        dict
            Setting name -> :func:`~sklearn_hallu.model_selection.paired_clip_gain`
            of the two rows (``gain``, ``ci95_clips`` in points).

        Raises
        ------
        ValueError
            A setting of this report that ``baseline`` lacks, or rows without
            ``per_clip`` (made with ``protocol="episodes"``).
        """
        theirs = {r["setting"]: r for r in baseline.rows}
        out = {}
        for r in self.rows:
            other = theirs.get(r["setting"])
            if other is None or "per_clip" not in r or "per_clip" not in other:
                raise ValueError(
                    f"setting {r['setting']!r}: a paired gain needs both reports made by "
                    "few_shot_report(..., protocol='paper') with the same settings; "
                    f"the baseline has {sorted(theirs)!r}.")
            out[r["setting"]] = paired_clip_gain([(r["per_clip"], other["per_clip"])])
        return out

    def to_markdown(self, per_class=False):
        lines = ["| setting | accuracy (%) | 95% CI (queries, as the paper) | 95% CI (clips) "
                 "| queries |", "|---|---|---|---|---|"]
        for r in self.rows:
            clips = f"±{r['ci95_clips']:.2f}" if "ci95_clips" in r else "n/a"
            lines.append(
                f"| {r['setting']} | {r['accuracy']:.2f} | ±{r['ci95']:.2f} | {clips} "
                f"| {r['n_queries']} |"
            )
        if per_class and self.rows:
            labels = list(self.rows[0]["per_class"])
            lines += ["", "| class | " + " | ".join(r["setting"] for r in self.rows) + " |",
                      "|---" * (len(self.rows) + 1) + "|"]
            for c in labels:
                vals = " | ".join(f"{r['per_class'][c]:.1f}" for r in self.rows)
                lines.append(f"| {c} | {vals} |")
        return "\n".join(lines)

    def __str__(self):
        return self.to_markdown()


def few_shot_report(
    estimator,
    X,
    y,
    settings=((5, 1), (5, 5), (10, 1), (10, 5)),
    *,
    protocol="paper",
    n_repeats=50,
    n_query=5,
    n_episodes=600,
    random_state=0,
    embeddings=None,
    device=None,
):
    """Mean accuracy, 95% CI (1.96 std / sqrt(n)) and per-class accuracy per setting.

    The clips are embedded once; every setting reuses the embeddings. Queries are
    classified as the estimator classifies them: by label propagation with
    ``embedding_norm="batch_label_propagated_l2"``, else by the nearest prototype.

    Parameters
    ----------
    estimator : HalluAudioClassifier or Pipeline
        A fitted classifier, or a fitted Pipeline ending in one.
    X : array-like
        The clips (raw input of the estimator), usually of classes the
        estimator never trained on.
    y : array-like of shape (n_clips,)
        Their labels.
    settings : sequence of (int, int), default=((5, 1), (5, 5), (10, 1), (10, 5))
        The ``(n_way, k_shot)`` settings.
    protocol : {"random", "paper"}, default="paper"
        As in :class:`FewShotScorer`.
    n_repeats : int, default=50
        Passes of the paper's protocol.
    n_query : int, default=5
        Queries per class (``"random"``).
    n_episodes : int, default=600
        Episodes (``"random"``).
    random_state : int or None, default=0
        Seeds the episodes.
    embeddings : ndarray or None
        Precomputed ``embed(estimator, X)``; ``X`` is then not used.
    device : str or None
        Torch device for the episode arithmetic.

    Returns
    -------
    FewShotReport
        One row per setting.
    """
    emb = embed(estimator, X) if embeddings is None else embeddings
    y = np.asarray(y)
    report = FewShotReport()
    for n_way, k_shot in settings:
        res = FewShotScorer(
            n_way, k_shot, protocol=protocol, n_query=n_query, n_episodes=n_episodes,
            n_repeats=n_repeats, random_state=random_state, device=device,
        ).evaluate_embeddings(emb, y, decision=decision_of(estimator))
        per_class = {
            (c.item() if hasattr(c, "item") else c):
                100 * float(res.correct[res.query_class == c].mean())
            for c in np.unique(y)
        }
        row = {
            "setting": f"{n_way}-way {k_shot}-shot",
            "n_way": n_way,
            "k_shot": k_shot,
            "accuracy": 100 * res.accuracy,
            "ci95": 100 * res.ci95,
            "n_queries": int(res.correct.size),
            "per_class": per_class,
        }
        if protocol == "paper":  # every clip is a query once per pass
            per_clip = res.correct.reshape(n_repeats, len(y)).mean(axis=0)
            row["per_clip"] = per_clip
            row["ci95_clips"] = 100 * clip_ci95(per_clip)
        report.rows.append(row)
    return report
