"""Supervised pre-training of the backbones on the training classes, before episodic training.

A linear head over the embedding learns to tell the training classes apart with
cross-entropy on mini-batches (every training clip once per epoch, with the same
augmentations as the episodes); the head is then dropped and episodic training starts
from the pre-trained backbones. This is the first stage of SimpleShot (Wang et al. 2019)
and Meta-Baseline (Chen et al. 2021), which MetaAudio (Heggan et al. 2022) ran on audio.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from ..nn import random_time_shift, spec_augment

__all__ = ["supervised_pretrain"]


def supervised_pretrain(net, X, y, *, epochs, rng, seed, batch_size=64, verbose=0):
    """Train ``net.module_`` with a linear head and cross-entropy on ``(X, y)``.

    Parameters
    ----------
    net : skorch.NeuralNet
        The initialised episodic net (``net.spec`` gives the optimiser settings,
        the time shift and SpecAugment).
    X : ndarray of shape (n_clips, n_views, n_mels, n_frames)
        Training views.
    y : ndarray of shape (n_clips,)
        Class indices ``0 .. n_classes - 1``.
    epochs : int
        Passes over the clips; the learning rate follows a cosine from ``net``'s
        ``lr`` to 0 over them.
    rng : numpy.random.RandomState
        Draws the batches and augmentations.
    seed : int
        Seeds the head's initial weights.
    batch_size : int, default=64
        Clips per step.
    verbose : int, default=0
        Print a line per epoch when >= 1.

    Returns
    -------
    list of dict
        Per epoch: ``epoch``, ``loss`` and ``acc`` (training batches).
    """
    spec, module, device = net.spec, net.module_, net.device
    n_classes = int(y.max()) + 1
    with torch.no_grad():
        module.eval()
        dim = module(torch.from_numpy(X[:2]).to(device)).shape[1]
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(int(seed))
        head = torch.nn.Linear(dim, n_classes).to(device)
    params = list(module.parameters()) + list(head.parameters())
    opt = torch.optim.SGD(params, lr=spec["lr"], momentum=spec["momentum"],
                          weight_decay=spec["weight_decay"])
    steps = epochs * math.ceil(len(y) / batch_size)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=max(steps, 1))
    loss_fn = torch.nn.CrossEntropyLoss()
    y_t = torch.from_numpy(y.astype(np.int64))
    history = []
    module.train()
    for epoch in range(1, epochs + 1):
        order = rng.permutation(len(y))
        losses, correct = [], 0
        for start in range(0, len(y), batch_size):
            idx = np.sort(order[start:start + batch_size])
            Xb = torch.from_numpy(X[idx]).to(device)
            if spec["time_shift"] is not None:
                Xb = random_time_shift(Xb, tuple(spec["time_shift"]), spec["time_shift_per"],
                                       rng)
            if spec.get("spec_augment"):
                Xb = spec_augment(Xb, spec["spec_augment"], rng)
            logits = head(module(Xb))
            yb = y_t[idx].to(device)
            loss = loss_fn(logits, yb)
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
            losses.append(float(loss.detach()) * len(idx))
            correct += int((logits.argmax(1) == yb).sum())
        history.append({"epoch": epoch, "loss": sum(losses) / len(y), "acc": correct / len(y)})
        if verbose:
            print(f"pre-training epoch {epoch}/{epochs}: loss {history[-1]['loss']:.4f}, "
                  f"accuracy {history[-1]['acc']:.3f}", flush=True)
    module.eval()
    return history
