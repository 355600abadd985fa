"""Mixup of the queries in training (issue 23 lever; rule ``research/results/mixup/RULES.md``).

Zhang et al. (2018)'s mixup, fitted to an episode: each query clip is mixed with another
query of the same episode, ``x = lam * x_a + (1 - lam) * x_b`` on the log-mel (after the
time shift), ``lam`` drawn per query from Beta(alpha, alpha); the supports stay clean, so
the prototypes are of real clips. The loss is ``lam`` times the query's cross-entropy
against class ``a`` plus ``1 - lam`` times against class ``b``, over the same logits the
library's prototypical loss uses (minus squared distances to the prototypes). Mixing
the log-mel, not the waveform, mixes the standardised input too (standardising is
affine), so it is what the encoder sees.

:class:`QueryMixup` replaces the net's training step when training begins, as
``research/supcon.py`` does, so a lever run trains with it without a new estimator
parameter. Baseline (one-view models) without ``spec_augment`` only. Prediction is
unchanged.
"""

from __future__ import annotations

import torch
from skorch.dataset import unpack_data

from research.distill import query_logits
from research.supcon import OwnTrainingStep

__all__ = ["mixed_query_loss", "QueryMixup"]


def mixed_query_loss(emb, n_way, k_shot, partner, lam):
    """Prototypical loss of an episode whose queries were mixed with ``partner`` queries.

    Parameters
    ----------
    emb : Tensor of shape (n_way * (k_shot + n_query), dim)
        The episode's embeddings, class by class (supports first in each class).
    n_way, k_shot : int
        The episode's shape.
    partner : Tensor of int, shape (n_way * n_query,)
        For each query (in class-major order), the index of the query it was mixed with.
    lam : Tensor of shape (n_way * n_query,)
        Each query's own share.

    Returns
    -------
    loss, accuracy : Tensor
        The scalar loss, and the share of queries whose top class is their own class
        ``a`` (the larger share's class when ``lam < 0.5`` is not counted differently).
    """
    logits, own = query_logits(emb, n_way, k_shot)
    logp = torch.log_softmax(logits, dim=-1)
    rows = torch.arange(len(own), device=emb.device)
    loss = -(lam * logp[rows, own] + (1 - lam) * logp[rows, own[partner]]).mean()
    return loss, (logits.argmax(-1) == own).float().mean()


class QueryMixup(OwnTrainingStep):
    """At the start of training, make each training step mix the episode's queries.

    Parameters
    ----------
    alpha : float
        The Beta(alpha, alpha) parameter of each query's share.
    """

    def __init__(self, alpha=0.4):
        if not alpha > 0:
            raise ValueError(f"alpha must be a positive number, got {alpha!r}")
        self.alpha = float(alpha)

    def on_train_begin(self, net, **kwargs):
        self.check_plain_baseline(net)
        spec, rng, alpha = net.spec, net.episode_rng, self.alpha
        n_way, k_shot = spec["n_way"], spec["k_shot"]

        def train_step_single(batch, **fit_params):
            net._set_training(True)
            Xi = self.shifted(net, unpack_data(batch)[0], rng)
            per_class = Xi.reshape((n_way, -1) + Xi.shape[1:])
            supports, queries = per_class[:, :k_shot], per_class[:, k_shot:]
            n_query = queries.shape[1]
            flat = queries.reshape((n_way * n_query,) + Xi.shape[1:])
            partner = torch.as_tensor(rng.permutation(len(flat)), device=Xi.device)
            lam = torch.as_tensor(rng.beta(alpha, alpha, size=len(flat)),
                                  dtype=Xi.dtype, device=Xi.device)
            shape = (-1,) + (1,) * (Xi.ndim - 1)
            mixed = lam.reshape(shape) * flat + (1 - lam.reshape(shape)) * flat[partner]
            Xm = torch.cat([supports, mixed.reshape(queries.shape)], 1).reshape(Xi.shape)
            emb = net.infer(Xm, **fit_params)
            loss, acc = mixed_query_loss(emb, n_way, k_shot, partner, lam)
            loss.backward()
            net.history.record_batch("train_acc", acc.item())
            return {"loss": loss, "y_pred": emb}

        net.train_step_single = train_step_single

