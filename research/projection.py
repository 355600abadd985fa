"""A projection head in training, dropped for prediction (issue 23 lever; rule
``research/results/head/RULES.md``).

Every training lever so far made the network more specific to ESC-50: the better a lever
fits the 30 training classes, the less its embedding carries to speech. Work on transfer in
vision names one reason and one cure. Kornblith et al. (NeurIPS 2021, "Why do better loss
functions lead to less transferable features?") find that objectives which pull the
penultimate layer's classes apart transfer worse; SimCLR (Chen et al. 2020) and Wang et al.
(CVPR 2022, an MLP projector in supervised pre-training) train the loss on a small MLP
above the representation and keep the representation below it, which the head shields from
the training classes' specialisation.

Here: the episode's prototypical loss (the library's, squared distances between head
outputs) is taken on ``head(embedding)``, with ``head`` = Linear(d, d), BatchNorm1d(d),
ReLU, Linear(d, d) on the library's d-dimensional embedding (Chen et al.'s form, hidden
width d, fixed, not tuned). The head trains beside the encoder with the same optimiser
settings (SGD, the net's current learning rate, momentum and weight decay) and is dropped
when training ends: validation during training, the best-epoch rule and every prediction
read the encoder's own embedding, as the fitted model has no head. The head's initial
weights are drawn from the run's seed. ``train_acc`` of the history is the head's.

:class:`ProjectionHead` replaces the net's training step when training begins, as
``research/supcon.py`` does. One-view baseline without ``spec_augment`` only.
"""

from __future__ import annotations

import copy

import torch
from skorch.dataset import unpack_data
from skorch.utils import to_tensor

from research.supcon import OwnTrainingStep

__all__ = ["ProjectionHead", "make_head"]


def make_head(dim, device=None):
    """Linear(d, d), BatchNorm1d(d), ReLU, Linear(d, d)."""
    return torch.nn.Sequential(torch.nn.Linear(dim, dim), torch.nn.BatchNorm1d(dim),
                               torch.nn.ReLU(), torch.nn.Linear(dim, dim)).to(device)


class ProjectionHead(OwnTrainingStep):
    """At the start of training, make each training step take the loss on a projection
    head's output; the head is dropped at the end of training.

    Attributes
    ----------
    head_ : torch.nn.Module or None
        The head while training (made at the first step, from the embedding's width and
        the run's seed); ``None`` before and after.
    head_optimizer_ : torch.optim.SGD or None
        Its optimiser while training, at the net's current learning rate.
    """

    def __init__(self):
        self.head_ = self.head_optimizer_ = None

    def on_train_begin(self, net, **kwargs):
        self.check_plain_baseline(net)
        rng, callback = net.episode_rng, self
        # the head's initial weights from the run's own seed, without advancing the episodes
        head_seed = int(copy.deepcopy(rng).randint(2**31 - 1))
        callback.head_ = callback.head_optimizer_ = None

        def train_step_single(batch, **fit_params):
            net._set_training(True)
            Xi, yi = unpack_data(batch)
            Xi = callback.shifted(net, Xi, rng)
            emb = net.infer(Xi, **fit_params)
            if callback.head_ is None:
                with torch.random.fork_rng(devices=[]):
                    torch.manual_seed(head_seed)
                    callback.head_ = make_head(emb.shape[-1], emb.device)
                callback.head_optimizer_ = callback.sgd_like_net(net, callback.head_.parameters())
            opt = callback.head_optimizer_
            opt.param_groups[0]["lr"] = net.optimizer_.param_groups[0]["lr"]  # its schedule
            callback.head_.train()
            opt.zero_grad()
            loss = net.get_loss(callback.head_(emb), to_tensor(yi, device=net.device),
                                X=Xi, training=True)
            loss.backward()
            opt.step()
            net.history.record_batch("train_acc", net.criterion_.last_accuracy)
            return {"loss": loss.detach(), "y_pred": emb.detach()}

        net.train_step_single = train_step_single

    def on_train_end(self, net, **kwargs):
        super().on_train_end(net, **kwargs)
        self.head_ = self.head_optimizer_ = None  # prediction reads the encoder's own
