"""Two augmented views and a supervised contrastive loss in training (issue 23 lever).

Rule: ``research/results/width/RULES_supcon.md``. In the spirit of Sgouropoulos et al.
(2025, arXiv 2509.10074: SpecAugment views and a supervised contrastive loss beside the
prototypical loss), without their attention fusion of the views: each clip of a training
episode is seen twice, each view with its own circular time shift (the library's range)
and its own SpecAugment bands (the library's ``random_time_shift`` and ``spec_augment``,
the draws the library's own step makes); the loss is the prototypical loss of each view (their
mean) plus ``weight`` times the supervised contrastive loss of Khosla et al. (2020) over
the 2N unit-norm embeddings, positives being the other clips and views of the same class.
Prediction is unchanged (one view, no masks).

With ``positives="clip"`` the contrast is self-supervised instead (SimCLR's NT-Xent, Chen
et al. 2020): a view's one positive is the other view of the same clip, and every other
clip, of its class or not, is a negative. The prototypical loss still pulls a class
together; the instance term keeps apart what it would collapse (variant ``base_simclr``,
rule ``research/results/simclr/RULES.md``).

:class:`TwoViewSupCon` replaces the net's training step when training begins, so that a
lever run of ``research.ablation`` trains with it without a new estimator parameter (one
would follow if the lever were kept). Baseline (one-view models) only.
"""

from __future__ import annotations

import torch
from skorch.callbacks import Callback
from skorch.dataset import unpack_data
from skorch.utils import to_tensor

from sklearn_hallu.nn import random_time_shift, spec_augment

__all__ = ["supcon_loss", "OwnTrainingStep", "TwoViewSupCon"]


def supcon_loss(z, labels, temperature=0.1):
    """Supervised contrastive loss (Khosla et al. 2020, the "out" form) of unit rows ``z``.

    For each anchor, minus the mean over its positives (same label, not itself) of the log
    of its softmax over every other row, the similarity being ``z_i . z_j / temperature``.
    Anchors without a positive are left out.
    """
    sim = z @ z.T / temperature
    eye = torch.eye(len(z), dtype=torch.bool, device=z.device)
    sim = sim.masked_fill(eye, float("-inf"))
    log_prob = sim - torch.logsumexp(sim, dim=1, keepdim=True)
    pos = (labels[:, None] == labels[None, :]) & ~eye
    n_pos = pos.sum(1)
    keep = n_pos > 0
    mean_pos = log_prob.masked_fill(~pos, 0.0).sum(1)[keep] / n_pos[keep]
    return -mean_pos.mean()


class OwnTrainingStep(Callback):
    """Base of the levers that replace the net's training step while it trains.

    A subclass builds the step in ``on_train_begin`` (after :meth:`check_plain_baseline`)
    and sets it as ``net.train_step_single``; at the end of training the class's own step
    comes back, so the fitted model pickles and refits as any other.
    """

    def check_plain_baseline(self, net, raw_distances=True):
        """Refuse what the replaced step cannot do: several views or ``spec_augment``,
        one shift per episode, and (``raw_distances``) a cosine training metric."""
        who, spec = type(self).__name__, net.spec
        if spec.get("spec_augment") or len(net.module_.view_slices or [0]) > 1:
            raise ValueError(f"{who} is for a one-view baseline without spec_augment")
        if spec["time_shift"] is not None and spec["time_shift_per"] != "clip":
            raise ValueError(f"{who} shifts each clip on its own: use time_shift_per='clip'")
        if raw_distances and getattr(net.criterion_, "temperature", None) is not None:
            raise ValueError(f"{who} takes raw squared distances: it cannot train with a "
                             "cosine metric (temperature)")

    @staticmethod
    def shifted(net, Xi, rng):
        """The batch on the net's device, each clip shifted as the library's step shifts
        it (no draw without a shift)."""
        Xi = to_tensor(Xi, device=net.device)
        shift = net.spec["time_shift"]
        return Xi if shift is None else random_time_shift(Xi, shift, "clip", rng)

    def embedded_batch(self, net, batch, rng, **fit_params):
        """The training-mode opening of a step: ``(Xi, yi, emb)`` of the batch, each clip
        shifted as the library's step shifts it (draws from ``rng``)."""
        net._set_training(True)
        Xi, yi = unpack_data(batch)
        Xi = self.shifted(net, Xi, rng)
        return Xi, yi, net.infer(Xi, **fit_params)

    @staticmethod
    def sgd_like_net(net, params):
        """An SGD over ``params`` with the net's current learning rate, momentum and weight
        decay (for a module that trains beside the encoder and is dropped after)."""
        group = net.optimizer_.param_groups[0]
        return torch.optim.SGD(params, lr=group["lr"], momentum=group.get("momentum", 0.0),
                               weight_decay=group.get("weight_decay", 0.0))

    def on_train_end(self, net, **kwargs):
        net.__dict__.pop("train_step_single", None)  # the class's step again (and pickles)


class TwoViewSupCon(OwnTrainingStep):
    """At the start of training, make each training step two views + supervised contrast.

    Parameters
    ----------
    weight : float
        Weight of the contrastive term beside the mean prototypical loss of the views.
    temperature : float
        The contrastive loss's temperature.
    bands : dict
        SpecAugment bands of each view, as ``HalluAudioClassifier(spec_augment=...)``.
    positives : {"class", "clip"}
        ``"class"``: the other clips and views of the same class (Khosla et al.);
        ``"clip"``: only the other view of the same clip (SimCLR's instance contrast).
    """

    def __init__(self, weight=1.0, temperature=0.1, bands=None, positives="class"):
        if positives not in ("class", "clip"):
            raise ValueError(f"positives must be 'class' or 'clip', got {positives!r}")
        self.weight, self.temperature = float(weight), float(temperature)
        self.bands = bands if bands is not None else {"freq": (2, 16), "time": (2, 16)}
        self.positives = positives

    def on_train_begin(self, net, **kwargs):
        if net.spec.get("spec_augment") or len(net.module_.view_slices or [0]) > 1:
            raise ValueError("TwoViewSupCon makes its own views: use it on a one-view "
                             "baseline without spec_augment")
        shift = net.spec["time_shift"] or (0, 0)
        rng, callback = net.episode_rng, self

        def train_step_single(batch, **fit_params):
            net._set_training(True)
            Xi, yi = unpack_data(batch)
            Xi, yi = to_tensor(Xi, device=net.device), to_tensor(yi, device=net.device)
            views = [net.infer(spec_augment(random_time_shift(Xi, shift, "clip", rng),
                                            callback.bands, rng), **fit_params)
                     for _ in range(2)]
            proto = sum(net.get_loss(e, yi, X=Xi, training=True) for e in views) / 2
            z = torch.nn.functional.normalize(torch.cat(views), dim=1)
            ids = yi if callback.positives == "class" else torch.arange(len(yi),
                                                                      device=yi.device)
            loss = proto + callback.weight * supcon_loss(z, torch.cat([ids, ids]),
                                                         callback.temperature)
            loss.backward()
            net.history.record_batch("train_acc", net.criterion_.last_accuracy)
            return {"loss": loss, "y_pred": views[0]}

        net.train_step_single = train_step_single
