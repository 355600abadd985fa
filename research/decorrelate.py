"""Embeddings spread over every direction in training (issue 23 lever; rule
``research/results/rank/RULES_decor.md``).

``python -m research.transfer.rank`` found that the trained baseline packs a new domain's
clips into fewer directions than its untrained twin does. For the spoken words, 82 % of
the variance lies in the base clips' top 30 principal directions, against 56 % for the same
network untrained. Their effective rank falls from 80 to 50 of 128
(``research/results/rank/rank.md``). In-domain it does not: the base clips' rank is the
twin's, and the probe classes' is higher. A term that keeps each training episode's
embeddings spread over many directions makes the network keep more of the variation
within the training classes. The question is whether that leaves room for what a new
domain needs.

The term is computed from the participation ratio ``PR = (tr C)^2 / ||C||_F^2`` of the
covariance ``C`` of the episode's embeddings (all its clips, the support and the queries):
``(d / PR - 1) / (d - 1)``, with ``d`` the embedding's width. It is 0 when every direction
carries the same variance and 1 when one direction carries all of it. It does not depend on
the embedding's scale. A dimension that is dead or nearly constant raises it, so the term
cannot be lowered by switching dimensions off. That is the loophole of a correlation-only
term, and the reason VICReg (Bardes et al. 2022) puts a variance term beside its covariance
term. The term equals ``||C / mean(eig C) - I||_F^2 / (d (d - 1))``: the squared distance
of the trace-normalised covariance from the identity, so the covariance is pushed towards a
multiple of the identity, as DeCov (Cogswell et al., ICLR 2016) pushes its off-diagonal
entries to zero. With ``n`` clips the rank is at most ``n - 1``, so its least value for a
50-clip episode in 128 dimensions is ``(128 / 49 - 1) / 127 = 0.0127``.

The term, times ``weight`` (fixed by the rule, not tuned), is added to the episode's
prototypical loss, and prediction is unchanged.

:class:`Decorrelation` replaces the net's training step when training begins, as
``research/projection.py`` does. It draws nothing, so a run's episodes and time shifts are
``base_ref``'s of the same seed. The history's ``train_loss`` is the prototypical loss
alone, comparable with ``base_ref``'s. The term is recorded per batch as ``decor``.
"""

from __future__ import annotations

import torch

from research.supcon import OwnTrainingStep

__all__ = ["spread_term", "Decorrelation"]


def spread_term(emb):
    """``(d / PR - 1) / (d - 1)`` of the rows of ``emb`` (n, d), where ``PR`` is the
    participation ratio of their covariance: 0 for equal variance in every direction, 1
    for a single direction (and for rows that are all equal)."""
    if emb.ndim != 2 or emb.shape[0] < 2 or emb.shape[1] < 2:
        raise ValueError(f"embeddings must be (n >= 2, d >= 2); got shape {tuple(emb.shape)}")
    z = emb - emb.mean(dim=0)
    gram = z @ z.T  # n x n: the same trace and Frobenius norm as z.T @ z, cheaper
    pr = torch.trace(gram) ** 2 / (gram * gram).sum().clamp_min(1e-30)
    d = emb.shape[1]
    return (d / pr.clamp_min(1.0) - 1.0) / (d - 1)


class Decorrelation(OwnTrainingStep):
    """At the start of training, add ``weight`` times :func:`spread_term` of the episode's
    embeddings to each training step's loss.

    Parameters
    ----------
    weight : float
        The term's weight beside the prototypical loss (> 0).
    """

    def __init__(self, weight):
        if not weight > 0:
            raise ValueError(f"weight must be a positive number, got {weight!r}")
        self.weight = float(weight)

    def on_train_begin(self, net, **kwargs):
        self.check_plain_baseline(net)
        weight = self.weight

        def train_step_single(batch, **fit_params):
            Xi, yi, emb = self.embedded_batch(net, batch, net.episode_rng, **fit_params)
            proto = net.get_loss(emb, yi, X=Xi, training=True)
            decor = spread_term(emb.flatten(1))
            (proto + weight * decor).backward()
            net.history.record_batch("train_acc", net.criterion_.last_accuracy)
            net.history.record_batch("decor", decor.item())
            return {"loss": proto.detach(), "y_pred": emb}

        net.train_step_single = train_step_single
