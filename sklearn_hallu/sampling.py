"""Episode sampling and episodic accuracy: one sampler for training, validation and scoring.

Two protocols draw N-way K-shot episodes from labels ``y``:

* ``"random"``: each episode picks ``n_way`` classes, then ``k_shot`` supports
  and ``n_query`` queries per class (the usual few-shot protocol, and the one
  training uses);
* ``"paper"``: every clip is a query once per pass; its supports are ``k_shot``
  clips of its own class (itself excluded) and ``k_shot`` clips of each of
  ``n_way - 1`` other classes drawn at random (Chou et al. 2019, HalluAudio);
  the pass is repeated ``n_repeats`` times.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from sklearn.utils import check_random_state

from .nn import prototype_logits, prototypes

__all__ = [
    "EpisodeSampler",
    "check_episode_feasible",
    "paper_episodes",
    "random_episodes",
    "EpisodeResult",
    "episodic_accuracy",
]


def _class_index(y):
    classes, y_idx = np.unique(np.asarray(y), return_inverse=True)
    members = [np.flatnonzero(y_idx == c) for c in range(len(classes))]
    return classes, y_idx, members


def check_episode_feasible(y, n_way, k_shot, n_query=0, *, what="y", exclude_self=False):
    """Raise a ValueError naming the numbers when ``y`` cannot give such episodes.

    Parameters
    ----------
    y : array-like of shape (n_samples,)
        Labels.
    n_way : int
        Classes per episode.
    k_shot : int
        Supports per class.
    n_query : int, default=0
        Queries per class.
    what : str, default="y"
        How the message names ``y``.
    exclude_self : bool, default=False
        The query is drawn from its own class too (the paper's protocol).
    """
    classes, _, members = _class_index(y)
    if n_way < 2:
        raise ValueError(f"n_way={n_way} must be at least 2 for a classification episode.")
    if len(classes) < n_way:
        raise ValueError(
            f"n_way={n_way} is larger than the number of classes in {what} "
            f"({len(classes)}). Lower n_way to at most {len(classes)} or add classes."
        )
    need = k_shot + n_query + int(exclude_self)
    small = [(c.item() if hasattr(c, "item") else c, len(m))
             for c, m in zip(classes, members) if len(m) < need]
    if small:
        shown = ", ".join(f"{c!r} ({n})" for c, n in small[:5])
        more = f" and {len(small) - 5} more" if len(small) > 5 else ""
        raise ValueError(
            f"Class(es) {shown}{more} in {what} have fewer clips than the "
            f"{need} an episode needs (k_shot={k_shot}"
            + (f" + n_query={n_query}" if n_query else "")
            + (" + the query itself" if exclude_self else "")
            + "). Lower k_shot/n_query or give more clips per class."
        )


class EpisodeSampler(torch.utils.data.Sampler):
    """Batch sampler of N-way K-shot episodes (a PyTorch ``batch_sampler``).

    Each batch lists the indices of ``n_way * (k_shot + n_query)`` clips, class
    by class: for each class, its ``k_shot`` supports then its ``n_query``
    queries. Every clip of a batch is embedded once and serves as a support or
    a query of the episode.

    Parameters
    ----------
    y : array-like of shape (n_samples,)
        Labels.
    n_way : int
        Classes per episode.
    k_shot : int
        Supports per class.
    n_query : int
        Queries per class.
    n_episodes : int
        Episodes per iteration (one epoch).
    random_state : int, RandomState instance or None
        Seeds the episodes; successive iterations continue the same stream.
    """

    def __init__(self, y, n_way, k_shot, n_query, n_episodes, random_state=None):
        check_episode_feasible(y, n_way, k_shot, n_query)
        self.n_way, self.k_shot, self.n_query = n_way, k_shot, n_query
        self.n_episodes = n_episodes
        _, _, self._members = _class_index(y)
        self._rng = check_random_state(random_state)

    def __len__(self):
        return self.n_episodes

    def __iter__(self):
        for _ in range(self.n_episodes):
            yield random_episodes(
                self._members, self.n_way, self.k_shot + self.n_query, 1, self._rng
            )[0].ravel().tolist()


def random_episodes(members, n_way, per_class, n_episodes, rng):
    """Index array ``(n_episodes, n_way, per_class)`` of random episodes."""
    out = np.empty((n_episodes, n_way, per_class), dtype=np.int64)
    n_classes = len(members)
    for e in range(n_episodes):
        for j, c in enumerate(rng.choice(n_classes, n_way, replace=False)):
            out[e, j] = rng.choice(members[c], per_class, replace=False)
    return out


def paper_episodes(y_idx, members, n_way, k_shot, rng):
    """One pass of the paper's protocol: every clip a query once.

    Returns
    -------
    support : ndarray (n_samples, n_way, k_shot)
        Support indices of each query's episode.
    target : ndarray (n_samples,)
        Position of the query's own class among the ``n_way``.
    """
    n, n_classes = len(y_idx), len(members)
    support = np.empty((n, n_way, k_shot), dtype=np.int64)
    target = rng.randint(0, n_way, size=n)
    for i in range(n):
        own = y_idx[i]
        others = rng.choice(n_classes - 1, n_way - 1, replace=False)
        others = others + (others >= own)
        order = np.insert(others, target[i], own)
        for j, c in enumerate(order):
            pool = members[c]
            if c == own:
                pool = pool[pool != i]
            support[i, j] = rng.choice(pool, k_shot, replace=False)
    return support, target


class _Decision:
    """A query's class from its prototype logits, or by label propagation (see
    :func:`episodic_accuracy`'s ``decision``): ``self(logits, queries, supports)`` with
    queries' indices of shape ``(...)`` and supports' of shape ``(..., n_way, k_shot)``
    (broadcast against the queries' shape)."""

    def __init__(self, emb, decision, device):
        self.prop = None
        if decision == "label_propagation":
            from .nn import LABEL_PROPAGATION, neighbour_graph

            s = neighbour_graph(emb.to(device=device, dtype=torch.float64)).to_dense()
            eye = torch.eye(len(s), dtype=s.dtype, device=s.device)
            self.prop = torch.linalg.inv(eye - LABEL_PROPAGATION["alpha"] * s)
            self.mass = self.prop.sum(dim=0) if LABEL_PROPAGATION["balanced"] else None

    def __call__(self, logits, queries, supports):
        pred = logits.argmax(-1)
        if self.prop is None:
            return pred
        score = self.prop[queries[..., None, None], supports].sum(-1)  # (..., n_way)
        if self.mass is not None:
            score = score / self.mass[supports].sum(-1)
        reached = score.max(-1).values > 0  # else the prototypes decide
        return torch.where(reached, score.argmax(-1), pred)


@dataclass
class EpisodeResult:
    """Per-query outcome of an episodic evaluation.

    Parameters
    ----------
    correct : ndarray of bool, shape (n_queries_total,)
        Whether each query was classified right.
    query_class : ndarray, shape (n_queries_total,)
        Label of each query (in the label space of ``y``).
    episode_accuracy : ndarray, shape (n_episodes,)
        Accuracy of each episode. In the ``"paper"`` protocol each query is
        its own episode, so this is 0/1 per query (the paper's 95% intervals
        over 20000 queries, about +-0.6 points, are computed this way).
    """

    correct: np.ndarray
    query_class: np.ndarray
    episode_accuracy: np.ndarray

    @property
    def accuracy(self) -> float:
        return float(self.correct.mean())

    @property
    def ci95(self) -> float:
        """Half-width 1.96 * std / sqrt(n) over episodes."""
        a = self.episode_accuracy
        return float(1.96 * a.std() / np.sqrt(len(a))) if len(a) > 1 else float("nan")


def episodic_accuracy(
    emb,
    y,
    *,
    n_way=5,
    k_shot=1,
    protocol="random",
    n_query=5,
    n_episodes=200,
    n_repeats=1,
    random_state=None,
    dims=None,
    chunk=256,
    device=None,
    decision="prototypes",
):
    """Accuracy of prototype classification on episodes drawn from ``y``.

    Parameters
    ----------
    emb : ndarray or Tensor of shape (n_samples, dim)
        Embeddings of the clips (e.g. ``HalluAudioClassifier.embed``).
    y : array-like of shape (n_samples,)
        Labels.
    n_way : int, default=5
        Classes per episode.
    k_shot : int, default=1
        Supports per class.
    protocol : {"random", "paper"}, default="random"
    n_query : int, default=5
        For ``"random"``: queries per class.
    n_episodes : int, default=200
        For ``"random"``: episodes.
    n_repeats : int, default=1
        For ``"paper"``: passes over all clips.
    random_state : int, RandomState instance or None, default=None
        Seeds the episodes.
    dims : slice or None, default=None
        Use only these embedding dimensions (one view's slice, say).
    chunk : int, default=256
        Episodes (or queries) per vectorised step.
    device : str or None, default=None
        Torch device for the computation (default: where ``emb`` is, or CPU).
    decision : {"prototypes", "label_propagation"}, default="prototypes"
        How a query is classified. ``"label_propagation"`` (transductive, the decision of
        ``embedding_norm="batch_label_propagated_l2"``): the episode's supports' labels
        are spread along the neighbour graph of all the clips of ``emb``
        (:func:`~sklearn_hallu.nn.label_propagation` at its defaults) and read at the
        query; a query no support reaches is classified by the prototypes. It holds an
        ``n_samples`` by ``n_samples`` matrix.

        .. versionadded:: 0.2.0

    Returns
    -------
    EpisodeResult
        Per-query outcome.
    """
    if decision not in ("prototypes", "label_propagation"):
        raise ValueError(f"decision must be 'prototypes' or 'label_propagation', got "
                         f"{decision!r}.")
    y = np.asarray(y)
    classes, y_idx, members = _class_index(y)
    rng = check_random_state(random_state)
    if protocol not in ("random", "paper"):
        raise ValueError(f"protocol must be 'random' or 'paper', got {protocol!r}.")
    given = torch.as_tensor(np.asarray(emb) if not torch.is_tensor(emb) else emb)
    if dims is not None:
        given = given[:, dims]
    emb = given.float()  # label propagation's graph: from the embeddings as given
    if device is not None:
        emb = emb.to(device)
    correct, qcls, ep_acc = [], [], []
    with torch.no_grad():
        if protocol == "random":
            check_episode_feasible(y, n_way, k_shot, n_query)
            decide = _Decision(given, decision, emb.device)
            idx = random_episodes(members, n_way, k_shot + n_query, n_episodes, rng)
            for s in range(0, n_episodes, chunk):
                block = torch.from_numpy(idx[s : s + chunk]).to(emb.device)
                e = emb[block]  # (E, N, K+Q, D)
                q = e[:, :, k_shot:].reshape(e.shape[0], n_way * n_query, -1)
                logits = prototype_logits(q, prototypes(e[:, :, :k_shot]))
                target = torch.arange(n_way, device=emb.device).repeat_interleave(n_query)
                pred = decide(logits, block[:, :, k_shot:].reshape(len(block), -1),
                              block[:, :, :k_shot].unsqueeze(1))
                ok = (pred == target).cpu().numpy()
                correct.append(ok.ravel())
                qcls.append(y_idx[idx[s : s + chunk, :, k_shot:]].reshape(-1))
                ep_acc.append(ok.mean(axis=1))
        else:  # "paper"
            check_episode_feasible(y, n_way, k_shot, exclude_self=True)
            decide = _Decision(given, decision, emb.device)
            for _ in range(n_repeats):
                support, target = paper_episodes(y_idx, members, n_way, k_shot, rng)
                ok_pass = []
                for s in range(0, len(y_idx), chunk):
                    sup_idx = torch.from_numpy(support[s : s + chunk]).to(emb.device)
                    q = emb[s : s + chunk].unsqueeze(1)  # (Q, 1, D)
                    logits = prototype_logits(q, prototypes(emb[sup_idx]))[:, 0]
                    rows = torch.arange(s, s + len(sup_idx), device=emb.device)
                    pred = decide(logits, rows, sup_idx)
                    ok_pass.append(pred.cpu().numpy() == target[s : s + chunk])
                ok_pass = np.concatenate(ok_pass)
                correct.append(ok_pass)
                qcls.append(y_idx.copy())
                ep_acc.append(ok_pass.astype(float))  # each query is one episode
    return EpisodeResult(
        correct=np.concatenate(correct),
        query_class=classes[np.concatenate(qcls)],
        episode_accuracy=np.concatenate(ep_acc),
    )
