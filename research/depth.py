"""Two training levers aimed at the last conv block (issue 23, goal 2; rule
``research/results/depth/RULES.md``).

The block swap (``research.transfer.swap``, 13 seeds) put the loss of transfer to the
spoken words in the trained LAST block: on untrained blocks 1-2 it is 3 to 7 points under
the untrained twin on speech, and the trained network with an untrained last block is above
the twin there. Blocks 1-2 carry what transfers; the last block makes the in-domain gain
and discards the rest. Two ways to train that block without letting it discard as much:

:class:`SlowBlock` (variant ``base_slow_last``)
    The block trains at ``factor`` times the net's learning rate (its own SGD parameter
    group, the same momentum, weight decay and schedule); the other blocks as before. It
    stays nearer its random initial weights, which the untrained twin shows to transfer to
    speech, while blocks 1-2 train fully. Discriminative fine-tuning with per-layer rates
    (Howard and Ruder 2018) and "lower learning rate for the last layers" are its cousins.

:class:`LowerBlockReconstruction` (variant ``base_recon``)
    Beside the prototypical loss, a linear decoder must reconstruct the second block's
    output (averaged over time, as the embedding is, and held fixed as a target) from the
    embedding: the last block may not discard what the block below it carries. The
    decoder's loss is a normalised squared error (the mean squared error over the batch's
    mean per-feature variance of the target: 1 for predicting the batch mean, 0 for a
    perfect reconstruction), weighted ``weight``. The decoder trains with its own SGD at
    the net's current learning rate, momentum and weight decay, its initial weights drawn
    from the run's seed, and it is dropped at the end of training: the fitted model is the
    plain encoder, and validation and every prediction read its embedding.

Both replace nothing in the library: they are callbacks of a ``research.ablation`` run
(one-view baseline only), as ``research/projection.py`` is.
"""

from __future__ import annotations

import copy

import torch
from skorch.callbacks import Callback
from skorch.dataset import unpack_data
from skorch.utils import to_tensor

from research.supcon import OwnTrainingStep

__all__ = ["SlowBlock", "LowerBlockReconstruction", "normalised_error", "block_of"]


def block_of(net, index):
    """The conv block ``index`` of a one-view net's backbone."""
    backbones = net.module_.backbones
    if len(backbones) != 1 or backbones[0].groups != 1:
        raise ValueError("the depth levers are for a one-view baseline (one backbone), "
                         f"got {len(backbones)} backbone(s) of {backbones[0].groups} group(s)")
    return backbones[0].blocks[index]


class SlowBlock(Callback):
    """While training, conv block ``index`` learns at ``factor`` times the net's rate.

    Its parameters move to a second parameter group of the net's SGD (same momentum and
    weight decay), whose rate follows the net's step schedule; at the end of training they
    go back to the first group, so a refit starts as any other.
    """

    def __init__(self, factor=0.1, index=-1):
        if not 0.0 <= float(factor):
            raise ValueError(f"factor must be >= 0, got {factor!r}")
        self.factor, self.index = float(factor), int(index)

    def on_train_begin(self, net, **kwargs):
        opt = net.optimizer_
        if len(opt.param_groups) != 1:
            raise ValueError("SlowBlock expects the net's one parameter group, found "
                             f"{len(opt.param_groups)}")
        slow = list(block_of(net, self.index).parameters())
        ids = {id(p) for p in slow}
        group = opt.param_groups[0]
        group["params"] = [p for p in group["params"] if id(p) not in ids]
        extra = {k: v for k, v in group.items() if k != "params"}
        extra["lr"] = group["lr"] * self.factor
        if "initial_lr" in group:  # set by the step scheduler made before this callback
            extra["initial_lr"] = group["initial_lr"] * self.factor
        opt.add_param_group({**extra, "params": slow})

    def on_train_end(self, net, **kwargs):
        opt = net.optimizer_
        if len(opt.param_groups) == 2:
            opt.param_groups[0]["params"].extend(opt.param_groups.pop()["params"])


def normalised_error(pred, target, eps=1e-8):
    """Mean squared error over the batch's mean per-feature variance of ``target``."""
    scale = target.var(dim=0, unbiased=False).mean()
    return ((pred - target) ** 2).mean() / (scale + eps)


class LowerBlockReconstruction(OwnTrainingStep):
    """At the start of training, add to each training step a linear decoder that must
    reconstruct the time-averaged output of conv block ``index`` from the embedding.

    Attributes
    ----------
    decoder_ : torch.nn.Linear or None
        The decoder while training; ``None`` before and after.
    decoder_optimizer_ : torch.optim.SGD or None
        Its optimiser while training.
    last_error_ : float or None
        The last step's normalised reconstruction error.
    """

    def __init__(self, weight=1.0, index=-2):
        self.weight, self.index = float(weight), int(index)
        self.decoder_ = self.decoder_optimizer_ = self.last_error_ = None

    def on_train_begin(self, net, **kwargs):
        self.check_plain_baseline(net)
        if net.spec["pooling"] != "time_mean":
            raise ValueError("LowerBlockReconstruction reconstructs time-averaged features: "
                             f"use pooling='time_mean', got {net.spec['pooling']!r}")
        rng, callback, seen = net.episode_rng, self, {}
        seed = int(copy.deepcopy(rng).randint(2**31 - 1))  # the run's, episodes untouched
        self.decoder_ = self.decoder_optimizer_ = None
        hook = block_of(net, self.index).register_forward_hook(
            lambda _m, _i, out: seen.__setitem__("out", out))
        self._hook = hook

        def train_step_single(batch, **fit_params):
            net._set_training(True)
            Xi, yi = unpack_data(batch)
            Xi = callback.shifted(net, Xi, rng)
            emb = net.infer(Xi, **fit_params)
            target = seen.pop("out").mean(dim=-1).flatten(1).detach()
            dec = callback._decoder(net, emb.shape[-1], target.shape[-1], seed, emb.device)
            loss = net.get_loss(emb, to_tensor(yi, device=net.device), X=Xi, training=True)
            net.history.record_batch("train_acc", net.criterion_.last_accuracy)
            error = normalised_error(dec(emb), target)
            callback.decoder_optimizer_.zero_grad()
            (loss + callback.weight * error).backward()
            callback.decoder_optimizer_.step()
            callback.last_error_ = float(error.detach())
            net.history.record_batch("recon_error", callback.last_error_)
            return {"loss": loss.detach(), "y_pred": emb.detach()}

        net.train_step_single = train_step_single

    def _decoder(self, net, d_in, d_out, seed, device):
        """The decoder (made at the first step), its rate set to the net's current one."""
        if self.decoder_ is None:
            with torch.random.fork_rng(devices=[]):
                torch.manual_seed(seed)
                self.decoder_ = torch.nn.Linear(d_in, d_out).to(device)
            self.decoder_optimizer_ = self.sgd_like_net(net, self.decoder_.parameters())
        self.decoder_optimizer_.param_groups[0]["lr"] = net.optimizer_.param_groups[0]["lr"]
        return self.decoder_

    def on_train_end(self, net, **kwargs):
        super().on_train_end(net, **kwargs)
        hook = getattr(self, "_hook", None)
        if hook is not None:
            hook.remove()
        self._hook = self.decoder_ = self.decoder_optimizer_ = None
