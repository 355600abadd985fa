"""The one prototype routine: class means and negative squared distances.

Training (the episode loss), prediction, validation, scoring and the
frequency-importance analysis all call these functions.
"""

from __future__ import annotations

from numbers import Integral
from types import MappingProxyType

import numpy as np
import torch
import torch.nn.functional as F

__all__ = ["prototypes", "class_prototypes", "prototype_logits", "prototypical_loss",
           "embedding_stats", "centered_l2", "whitening_stats", "whitened_l2",
           "propagated_l2", "neighbour_graph", "label_propagation", "LABEL_PROPAGATION"]


def prototypes(support: torch.Tensor) -> torch.Tensor:
    """Class prototypes: the mean over the shot axis.

    Parameters
    ----------
    support : Tensor of shape (..., n_way, k_shot, dim)
        Support embeddings, class by class.

    Returns
    -------
    Tensor of shape (..., n_way, dim)
        One prototype per class.
    """
    return support.mean(dim=-2)


def class_prototypes(emb: torch.Tensor, labels: torch.Tensor, n_classes: int) -> torch.Tensor:
    """Class prototypes of clips in any order and any number per class: class means.

    The same prototypes as :func:`prototypes` when every class has ``k_shot`` clips.

    Parameters
    ----------
    emb : Tensor of shape (n_clips, dim)
        Embeddings.
    labels : Tensor of shape (n_clips,), int64
        Class index of each clip, in ``[0, n_classes)``; every class present.
    n_classes : int
        Number of classes.

    Returns
    -------
    Tensor of shape (n_classes, dim)
        The mean embedding of each class.
    """
    sums = emb.new_zeros((n_classes, emb.shape[-1])).index_add_(0, labels, emb)
    counts = torch.bincount(labels, minlength=n_classes).to(emb.dtype)
    return sums / counts[:, None]


def prototype_logits(query: torch.Tensor, protos: torch.Tensor) -> torch.Tensor:
    """Compute the logits ``-||q - p_c||^2`` of each query against each prototype.

    With embeddings that concatenate several views, this is minus the sum over
    views of each view's squared distance, HalluAudio's combination rule.

    Parameters
    ----------
    query : Tensor of shape (..., n_query, dim)
        Query embeddings.
    protos : Tensor of shape (..., n_way, dim)
        Class prototypes.

    Returns
    -------
    Tensor of shape (..., n_query, n_way)
        The logits.
    """
    # ||q||^2 - 2 q.p + ||p||^2, computed without materialising q - p.
    qq = query.square().sum(-1, keepdim=True)
    pp = protos.square().sum(-1).unsqueeze(-2)
    qp = torch.matmul(query, protos.transpose(-1, -2))
    return -(qq - 2 * qp + pp).clamp_min(0)


def prototypical_loss(emb: torch.Tensor, n_way: int, k_shot: int, view_slices=None,
                      per_view_weight: float = 0.0, temperature=None):
    """Cross-entropy of one episode whose clips are ordered class by class.

    Parameters
    ----------
    emb : Tensor of shape (n_way * (k_shot + n_query), dim)
        Class ``c`` owns rows ``c * (k_shot + n_query)`` onwards: its first
        ``k_shot`` rows are supports, the rest queries.
    n_way : int
        Classes in the episode.
    k_shot : int
        Supports per class.
    view_slices : list of slice or None, default=None
        Where each view's embedding lies in ``dim``; needed for ``per_view_weight``.
    per_view_weight : float, default=0.0
        Adds ``per_view_weight`` times the mean of each view's own loss, so that
        every branch also learns to classify alone.
    temperature : float or None, default=None
        None: raw embeddings (the paper). A number ``t``: each view's part is first
        scaled to norm ``sqrt(t / 2)``, then the squared distances are taken as usual:
        a metric on unit embeddings with temperature ``t`` (with one support per class
        a logit is ``t`` times the cosine plus a constant; Oreshkin et al. 2018's metric
        scaling). Needs ``view_slices`` for more than one view.

    Returns
    -------
    loss : Tensor
        The scalar loss.
    accuracy : Tensor
        The scalar accuracy of the episode's queries.
    """
    if temperature is not None:
        slices = view_slices or [slice(None)]
        emb = torch.cat([F.normalize(emb[:, s], dim=-1) for s in slices], dim=-1)
        emb = emb * (temperature / 2) ** 0.5
    per_class = emb.reshape(n_way, -1, emb.shape[-1])
    support, query = per_class[:, :k_shot], per_class[:, k_shot:]
    n_query = query.shape[1]
    query = query.reshape(n_way * n_query, -1)
    target = torch.arange(n_way, device=emb.device).repeat_interleave(n_query)
    logits = prototype_logits(query, prototypes(support))
    loss = F.cross_entropy(logits, target)
    if per_view_weight and view_slices is not None and len(view_slices) > 1:
        view_losses = [
            F.cross_entropy(prototype_logits(query[:, s], prototypes(support[..., s])), target)
            for s in view_slices
        ]
        loss = loss + per_view_weight * torch.stack(view_losses).mean()
    acc = (logits.argmax(-1) == target).float().mean()
    return loss, acc


def embedding_stats(emb: torch.Tensor, view_slices) -> tuple[torch.Tensor, float]:
    """What :func:`centered_l2` needs: the mean embedding and the mean centred view norm.

    Parameters
    ----------
    emb : Tensor of shape (n_clips, dim)
        Embeddings of the base (training) clips.
    view_slices : list of slice
        Where each view's embedding lies in ``dim``.

    Returns
    -------
    mean : Tensor of shape (dim,)
        The mean embedding.
    scale : float
        The mean over clips and views of the norm of a view's centred embedding
        (1.0 when every clip has the same embedding).
    """
    mean = emb.mean(dim=0)
    centred = emb - mean
    norms = torch.stack([centred[:, s].norm(dim=-1) for s in view_slices])
    scale = float(norms.mean())
    return mean, scale if scale > 0 else 1.0


def centered_l2(emb: torch.Tensor, mean: torch.Tensor, view_slices, scale: float = 1.0):
    """Centre embeddings on ``mean``, then give each view's part the norm ``scale``.

    After this, the squared distance of two clips is, view by view, ``2 scale^2``
    times one minus the cosine of their centred embeddings, and every view weighs
    the same in the sum (Wang et al. 2019, "SimpleShot", centre and L2-normalise
    features for nearest-prototype few-shot classification). A single ``scale``
    for all views keeps the logits on the order of the training ones, so that
    ``predict_proba`` is not flattened; it does not change any argmax.

    Parameters
    ----------
    emb : Tensor of shape (n_clips, dim)
        Embeddings.
    mean : Tensor of shape (dim,)
        The base clips' mean embedding (:func:`embedding_stats`).
    view_slices : list of slice
        Where each view's embedding lies in ``dim``.
    scale : float, default=1.0
        The norm each view's part gets.

    Returns
    -------
    Tensor of shape (n_clips, dim)
        The normalised embeddings (a new tensor).
    """
    out = emb - mean
    for s in view_slices:
        out[:, s] = scale * F.normalize(out[:, s], dim=-1)
    return out


def whitening_stats(emb: torch.Tensor, view_slices):
    """What :func:`whitened_l2` needs: the mean embedding and a whitening matrix.

    .. versionadded:: 0.2.0

    View by view, the clips' part gives a mean and a covariance, shrunk towards a
    multiple of the identity by Ledoit and Wolf's (2004) closed form (no constant to
    choose). The whitening is the covariance's inverse square root (ZCA), one block per
    view: the covariance between views is not used (the measurements,
    :ref:`whitening`, are of one-view models). Eigenvalues are floored at 1e-12, so
    that two clips (a singular covariance) or a constant dimension give finite output.
    NumPy computes it on the CPU, without gradients: it is for prediction.

    Parameters
    ----------
    emb : Tensor of shape (n_clips, dim)
        The clips the statistics come from (at least 2).
    view_slices : list of slice
        Where each view's embedding lies in ``dim``.

    Returns
    -------
    mean : Tensor of shape (dim,)
        The mean embedding (float64).
    whitening : Tensor of shape (dim, dim)
        Block diagonal, one block per view (float64); the identity outside the views.
    """
    from sklearn.covariance import LedoitWolf

    if len(emb) < 2:
        raise ValueError(f"whitening needs the statistics of at least 2 clips, got "
                         f"{len(emb)}.")
    data = emb.double().numpy()
    whitening = np.eye(data.shape[1])
    for s in view_slices:
        vals, vecs = np.linalg.eigh(LedoitWolf().fit(data[:, s]).covariance_)
        whitening[s, s] = (vecs / np.sqrt(np.maximum(vals, 1e-12))) @ vecs.T
    return torch.from_numpy(data.mean(axis=0)), torch.from_numpy(whitening)


def whitened_l2(emb: torch.Tensor, mean: torch.Tensor, whitening: torch.Tensor,
                view_slices, scale: float = 1.0):
    """Centre embeddings on ``mean``, whiten them, then give each view's part a norm.

    .. versionadded:: 0.2.0

    With the statistics of :func:`whitening_stats`, every direction of those clips'
    spread weighs the same, and each view's part then has the norm ``scale``, as
    :func:`centered_l2` gives it. A network trained on other sounds shrinks the directions
    in which a new domain's clips differ; whitening by those clips' spread scales them
    back (:doc:`/beyond`).

    Parameters
    ----------
    emb : Tensor of shape (n_clips, dim)
        Embeddings to normalise.
    mean, whitening : Tensor of shape (dim,) and (dim, dim)
        From :func:`whitening_stats`.
    view_slices : list of slice
        Where each view's embedding lies in ``dim``.
    scale : float, default=1.0
        The norm each view's part gets.

    Returns
    -------
    Tensor of shape (n_clips, dim)
        The normalised embeddings (a new tensor, of ``emb``'s dtype).

    Examples
    --------
    >>> import torch
    >>> from sklearn_hallu.nn import whitened_l2, whitening_stats
    >>> g = torch.Generator().manual_seed(0)
    >>> batch = torch.randn(1000, 2, generator=g) * torch.tensor([3.0, 0.3])
    >>> unit = batch / batch.norm(dim=1, keepdim=True)  # L2 alone: the first direction wins
    >>> [round(float(v), 2) for v in unit.pow(2).mean(0)]
    [0.91, 0.09]
    >>> mean, w = whitening_stats(batch, [slice(0, 2)])
    >>> out = whitened_l2(batch, mean, w, [slice(0, 2)])
    >>> [round(float(v), 4) for v in out.norm(dim=1)[:3]]
    [1.0, 1.0, 1.0]
    >>> [round(float(v), 1) for v in out.pow(2).mean(0)]  # both directions weigh the same
    [0.5, 0.5]
    """
    out = (emb.double() - mean.double()) @ whitening.double()
    out = centered_l2(out, torch.zeros(emb.shape[1], dtype=torch.float64), view_slices, scale)
    return out.to(emb.dtype)


def propagated_l2(emb: torch.Tensor, view_slices, scale: float = 1.0, *,
                  n_neighbors: int = 10, alpha: float = 0.5, chunk: int = 1024):
    """Smooth normalised embeddings along their nearest-neighbour graph, then renormalise.

    .. versionadded:: 0.2.0

    A k-nearest-neighbour variant of embedding propagation (Rodríguez et al. 2020, whose
    code uses a dense graph of all pairs; ``alpha=0.5`` as theirs), on the clips given
    together: ``emb`` (each view's part at norm ``scale``, as :func:`centered_l2` leaves
    it) is replaced by ``(I - alpha S)^-1 emb``, where ``S`` is the symmetrically
    normalised affinity of the clips' graph, and each view's part is given the norm
    ``scale`` again. A clip's neighbours are the ``n_neighbors`` nearest other clips (and
    every clip exactly tied with the last, such as copies of one clip, so that their
    order does not matter); two clips are joined if either is the other's neighbour,
    with the Gaussian weight ``exp(-d^2 / s^2)``, ``s^2`` the mean squared distance of
    the clips to their neighbours. A clip then moves towards the clips it is close to,
    so a single support is averaged with its neighbours. Transductive: each clip's
    output depends on every other clip given. The distances are computed ``chunk``
    clips at a time, the graph is kept sparse and the system is solved by conjugate
    gradients (to about 1e-13 of each dimension's norm), so memory grows as ``chunk``
    times the number of clips (unless many clips are copies of one another), and time
    with its square.

    Parameters
    ----------
    emb : Tensor of shape (n_clips, dim)
        Normalised embeddings (:func:`centered_l2`).
    view_slices : list of slice
        Where each view's embedding lies in ``dim``; the graph uses all of them.
    scale : float, default=1.0
        The norm each view's part gets, as in :func:`centered_l2`.
    n_neighbors : int, default=10
        Neighbours per clip in the graph (every other clip when fewer are given).
    alpha : float, default=0.5
        The propagation's strength, in ``[0, 1)``; 0 only renormalises.
    chunk : int, default=1024
        Clips whose distances to all others are computed at once (memory only).

    Returns
    -------
    Tensor of shape (n_clips, dim)
        The propagated embeddings (a new tensor, of ``emb``'s dtype).

    Examples
    --------
    >>> import torch
    >>> from sklearn_hallu.nn import propagated_l2
    >>> g = torch.Generator().manual_seed(0)
    >>> centres = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    >>> emb = centres.repeat_interleave(20, 0) + 0.4 * torch.randn(40, 2, generator=g)
    >>> emb = emb / emb.norm(dim=1, keepdim=True)
    >>> out = propagated_l2(emb, [slice(0, 2)], n_neighbors=5)
    >>> [round(float(v), 4) for v in out.norm(dim=1)[:3]]
    [1.0, 1.0, 1.0]
    >>> def spread(e):  # mean distance of a class's clips to their mean direction
    ...     return float((e[:20] - e[:20].mean(0)).norm(dim=1).mean())
    >>> spread(out) < spread(emb)  # each class is tighter
    True
    """
    if not 0.0 <= alpha < 1.0:
        raise ValueError(f"alpha must be in [0, 1), got {alpha!r}.")
    if isinstance(n_neighbors, bool) or not isinstance(n_neighbors, Integral) \
            or n_neighbors < 1:
        raise ValueError(f"n_neighbors must be an integer >= 1, got {n_neighbors!r}.")
    if isinstance(chunk, bool) or not isinstance(chunk, Integral) or chunk < 1:
        raise ValueError(f"chunk must be an integer >= 1, got {chunk!r}.")
    n = len(emb)
    if n < 2:
        raise ValueError(f"propagated_l2 smooths clips along their neighbour graph, so it "
                         f"needs at least 2 clips, got {n}: give the clips together.")
    bad = int((~torch.isfinite(emb).all(dim=1)).sum())
    if bad:
        raise ValueError(f"propagated_l2: {bad} of {n} clips have non-finite embeddings "
                         "(NaN or inf), which would spread to every clip. Leave them out.")
    x = emb.double() / scale
    out = _solve_shifted(_normalised_graph(x, n_neighbors, chunk), x, alpha)
    out = centered_l2(out, out.new_zeros(x.shape[1]), view_slices, scale)
    return out.to(emb.dtype)


def neighbour_graph(emb: torch.Tensor, n_neighbors: int = 10, *, chunk: int = 1024):
    """The clips' nearest-neighbour graph that :func:`propagated_l2` smooths along.

    .. versionadded:: 0.2.0

    Each clip is joined to its ``n_neighbors`` nearest others (and every clip tied with
    the last); two clips are joined if either is the other's neighbour, with the Gaussian
    weight ``exp(-d^2 / s^2)``, ``s^2`` the mean squared distance of the clips to their
    neighbours; the weights are then normalised symmetrically, ``D^-1/2 W D^-1/2``, so
    the graph's eigenvalues lie in ``[-1, 1]``. Label propagation (Zhou et al. 2004)
    scores the classes of unlabelled clips with ``(I - alpha S)^-1 Y``.

    Parameters
    ----------
    emb : Tensor of shape (n_clips, dim)
        The clips' embeddings (at least 2 clips, all finite).
    n_neighbors : int, default=10
        Neighbours per clip (every other clip when fewer are given).
    chunk : int, default=1024
        Clips whose distances to all others are computed at once (memory only).

    Returns
    -------
    Tensor of shape (n_clips, n_clips)
        The normalised affinity ``S``, sparse (coalesced COO) and symmetric, in float64.

    Examples
    --------
    >>> import torch
    >>> from sklearn_hallu.nn import neighbour_graph
    >>> emb = torch.tensor([[0.0], [0.1], [5.0], [5.1]])
    >>> s = neighbour_graph(emb, n_neighbors=1).to_dense()
    >>> bool(s[0, 1] > 0), bool(s[0, 2] > 0)  # joined within a pair, not across
    (True, False)
    >>> torch.equal(s, s.T)
    True
    """
    if isinstance(n_neighbors, bool) or not isinstance(n_neighbors, Integral) \
            or n_neighbors < 1:
        raise ValueError(f"n_neighbors must be an integer >= 1, got {n_neighbors!r}.")
    if isinstance(chunk, bool) or not isinstance(chunk, Integral) or chunk < 1:
        raise ValueError(f"chunk must be an integer >= 1, got {chunk!r}.")
    if emb.dim() != 2:
        raise ValueError(f"neighbour_graph needs embeddings of shape (n_clips, dim), got "
                         f"shape {tuple(emb.shape)}.")
    if len(emb) < 2:
        raise ValueError(f"neighbour_graph joins clips, so it needs at least 2, got "
                         f"{len(emb)}: give the clips together.")
    if not bool(torch.isfinite(emb).all()):
        raise ValueError("neighbour_graph: some clips have non-finite embeddings (NaN or "
                         "inf). Leave them out.")
    return _normalised_graph(emb.double(), n_neighbors, chunk)


#: label propagation's setting, chosen on the validation classes by rule LP
#: (``research/results/long2x/RULES_label_prop.md``): strength and class mass normalisation
LABEL_PROPAGATION = MappingProxyType({"alpha": 0.9, "balanced": True})  # read-only


def label_propagation(emb: torch.Tensor, labels, n_classes=None, *,
                      alpha: float = LABEL_PROPAGATION["alpha"],
                      balanced: bool = LABEL_PROPAGATION["balanced"],
                      n_neighbors: int = 10, chunk: int = 1024):
    """Score every clip's classes by spreading the labelled clips' labels along the graph.

    .. versionadded:: 0.2.0

    Label propagation (Zhou et al. 2004) on :func:`neighbour_graph`: with ``Y`` the
    one-hot labels of the labelled clips (zero rows for the others), the scores are
    ``F = (I - alpha S)^-1 Y``, a clip's class scoring high when the clips it is close
    to, directly or through other clips, are labelled with it. With ``balanced`` each
    class's column is divided by its sum over all clips (the mass its labelled clips
    spread; a variant of Zhu et al.'s 2003 class mass normalisation), so that a class
    whose labelled clips sit in a dense part of the graph does not take every clip. A
    clip that no labelled clip reaches (a part of the graph without labels) scores 0 in
    every class. Transductive: every score depends on every clip given. Solved by
    conjugate gradients on the sparse graph (memory: ``n_clips`` times ``n_classes``
    besides the graph's).

    Parameters
    ----------
    emb : Tensor of shape (n_clips, dim)
        The clips' embeddings (at least 2), labelled and unlabelled.
    labels : array-like of int of shape (n_clips,)
        Each clip's class in ``0 .. n_classes - 1``, or -1 if unlabelled.
    n_classes : int or None, default=None
        The number of classes (default: the largest label plus one).
    alpha : float, default=0.9
        The propagation's strength, in ``[0, 1)``.
    balanced : bool, default=True
        Divide each class's scores by their sum.
    n_neighbors : int, default=10
        Neighbours per clip in the graph.
    chunk : int, default=1024
        Clips whose distances to all others are computed at once (memory only).

    Returns
    -------
    Tensor of shape (n_clips, n_classes)
        The scores, float64, at least 0 up to rounding.

    Examples
    --------
    >>> import torch
    >>> from sklearn_hallu.nn import label_propagation
    >>> t = torch.linspace(0, 6, 30)
    >>> chains = torch.cat([torch.stack([t, 0 * t], 1), torch.stack([t.flip(0), 0 * t + 1.5], 1)])
    >>> labels = torch.full((60,), -1)
    >>> labels[0], labels[30] = 0, 1  # one labelled clip at one end of each chain
    >>> f = label_propagation(chains, labels, n_neighbors=3)
    >>> f[29].argmax().item(), f[59].argmax().item()  # the far ends follow their chain
    (0, 1)
    """
    if not 0.0 <= alpha < 1.0:
        raise ValueError(f"alpha must be in [0, 1), got {alpha!r}.")
    labels = (labels.to(torch.int64) if torch.is_tensor(labels)
              else torch.as_tensor(np.asarray(labels), dtype=torch.int64)).to(emb.device)
    if labels.shape != (len(emb),):
        raise ValueError(f"labels must hold one label per clip, shape ({len(emb)},), got "
                         f"shape {tuple(labels.shape)}.")
    known = labels >= 0
    if not bool(known.any()):
        raise ValueError("label_propagation needs at least one labelled clip (labels >= 0); "
                         "every label is -1.")
    n_classes = int(labels.max()) + 1 if n_classes is None else n_classes
    if int(labels.max()) >= n_classes or int(labels.min()) < -1:
        raise ValueError(f"labels must be in -1 .. {n_classes - 1} (n_classes={n_classes}), "
                         f"got values from {int(labels.min())} to {int(labels.max())}.")
    s = neighbour_graph(emb, n_neighbors, chunk=chunk)
    y = torch.zeros(len(emb), n_classes, dtype=torch.float64, device=emb.device)
    y[known.nonzero().squeeze(1), labels[known]] = 1.0
    f = _solve_shifted(s, y, alpha, who="label_propagation")
    if balanced:
        f = f / f.sum(dim=0).clamp_min(1e-300)
    return f


def _normalised_graph(x, n_neighbors, chunk):
    """:func:`neighbour_graph` of checked float64 ``x``."""
    n = len(x)
    rows, cols, w = _neighbour_edges(x, min(int(n_neighbors), n - 1), chunk)
    inv_sqrt_deg = torch.zeros(n, dtype=x.dtype, device=x.device).index_add_(
        0, rows, w).clamp_min(1e-12).rsqrt()  # an isolated clip keeps its own
    # valid indices, sorted and unique by construction (torch.unique of row * n + col)
    return torch.sparse_coo_tensor(torch.stack([rows, cols]),
                                   w * inv_sqrt_deg[rows] * inv_sqrt_deg[cols], (n, n),
                                   is_coalesced=True, check_invariants=False)


def _neighbour_edges(x, k, chunk):
    """Directed edges ``(rows, cols)`` and Gaussian weights of the graph of
    :func:`propagated_l2`, made symmetric: each clip's ``k`` nearest others (and all tied
    with the ``k``-th), ``chunk`` rows of distances at a time."""
    n = len(x)
    rows, cols, d2s = [], [], []
    for a in range(0, n, chunk):
        d2 = torch.cdist(x[a:a + chunk], x).square()
        own = torch.arange(a, a + len(d2), device=x.device)
        d2[own - a, own] = float("inf")
        kth = torch.topk(d2, k, dim=1, largest=False).values[:, -1:]
        r, c = (d2 <= kth).nonzero(as_tuple=True)  # ties included: any clip order
        rows.append(r + a)
        cols.append(c)
        d2s.append(d2[r, c])
    rows, cols, d2 = torch.cat(rows), torch.cat(cols), torch.cat(d2s)
    s2 = float(d2.mean())
    w = torch.exp(-d2 / (s2 if s2 > 0 else 1.0))
    # an edge if either clip is among the other's neighbours, with the larger weight
    key = torch.cat([rows * n + cols, cols * n + rows])
    uniq, where = torch.unique(key, return_inverse=True)
    w = torch.zeros(len(uniq), dtype=w.dtype, device=w.device).scatter_reduce_(
        0, where, torch.cat([w, w]), reduce="amax", include_self=False)
    return uniq // n, uniq % n, w


def _solve_shifted(s, b, alpha, rtol=1e-13, max_iter=1000, who="propagated_l2"):
    """``(I - alpha s)^-1 b`` for a sparse symmetric ``s`` with eigenvalues in [-1, 1]:
    conjugate gradients, one column of ``b`` each (``I - alpha s`` is positive definite,
    eigenvalues in ``[1 - alpha, 1 + alpha]``). Stops when every column's residual is at
    most ``rtol (1 - alpha)`` times its right-hand side's norm, which bounds its error by
    ``rtol`` times that norm."""
    z = torch.zeros_like(b)
    r = b.clone()
    p = r.clone()
    rs = (r * r).sum(0)
    goal = (rtol * (1 - alpha)) ** 2 * rs
    for _ in range(max_iter):
        if bool((rs <= goal).all()):
            return z
        ap = p - alpha * torch.sparse.mm(s, p)
        step = rs / (p * ap).sum(0).clamp_min(1e-300)
        z = z + step * p
        r = r - step * ap
        rs_new = (r * r).sum(0)
        p = r + (rs_new / rs.clamp_min(1e-300)) * p
        rs = rs_new
    if bool((rs <= goal).all()):
        return z
    raise RuntimeError(f"{who}: the propagation did not converge in {max_iter} "
                       f"conjugate-gradient steps (alpha={alpha}); use a smaller alpha.")
