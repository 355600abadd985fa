"""Decorrelated embeddings in training (issue 23 lever; rule
``research/results/rank/RULES_decor.md``).

``python -m research.transfer.rank`` found that the trained baseline packs a new domain's
clips into the directions its training classes use: 82 % of the spoken words' variance
lies in the base clips' top 30 principal directions, against 56 % for the same network
untrained, and their effective rank falls from 80 to 50 of 128
(``research/results/rank/rank.md``). In-domain the rank is unchanged. A regulariser that
keeps the embedding's dimensions decorrelated on the training clips spreads the base
clips over more directions. The question is whether that leaves room for what a new domain
needs.

The term is the off-diagonal part of the correlation matrix of the episode's embeddings
(all its clips, the support and the queries): the mean over ``i != j`` of ``R_ij ** 2``.
It is the redundancy term of Barlow Twins (Zbontar et al. 2021) taken on one view, and a
scale-free form of DeCov (Cogswell et al., ICLR 2016), which decorrelates hidden units to
reduce overfitting. The term lies in [0, 1]. Added to the episode's prototypical loss with
``weight`` (fixed by the rule, not tuned); prediction is unchanged.

:class:`Decorrelation` replaces the net's training step when training begins, as
``research/projection.py`` does. It draws nothing, so a run's episodes and time shifts are
``base_ref``'s of the same seed. The term's value is recorded per batch in the history as
``decor``.
"""

from __future__ import annotations

import torch
from skorch.dataset import unpack_data

from research.supcon import OwnTrainingStep

__all__ = ["offdiagonal_correlation", "Decorrelation"]


def offdiagonal_correlation(emb, eps=1e-6):
    """Mean over ``i != j`` of the squared correlation of dimensions ``i`` and ``j`` of the
    rows of ``emb`` (n, d); a dimension constant over the rows counts as uncorrelated."""
    if emb.ndim != 2 or emb.shape[0] < 2 or emb.shape[1] < 2:
        raise ValueError(f"embeddings must be (n >= 2, d >= 2); got shape {tuple(emb.shape)}")
    z = emb - emb.mean(dim=0)
    z = z / torch.sqrt(z.pow(2).mean(dim=0) + eps)
    r = z.T @ z / emb.shape[0]
    d = emb.shape[1]
    return (r.pow(2).sum() - torch.diagonal(r).pow(2).sum()) / (d * (d - 1))


class Decorrelation(OwnTrainingStep):
    """At the start of training, add ``weight`` times :func:`offdiagonal_correlation` of
    the episode's embeddings to each training step's loss.

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
            net._set_training(True)
            Xi, yi = unpack_data(batch)
            Xi = self.shifted(net, Xi, net.episode_rng)
            emb = net.infer(Xi, **fit_params)
            proto = net.get_loss(emb, yi, X=Xi, training=True)
            decor = offdiagonal_correlation(emb.flatten(1))
            loss = proto + weight * decor
            loss.backward()
            net.history.record_batch("train_acc", net.criterion_.last_accuracy)
            net.history.record_batch("decor", float(decor.detach()))
            return {"loss": loss, "y_pred": emb}

        net.train_step_single = train_step_single
