"""Training-time augmentation of log-mel batches: circular time shifts and SpecAugment.

``HalluAudioClassifier`` applies both to every training episode (``time_shift``,
``time_shift_per``, ``spec_augment``) and to supervised pre-training; they are public
so that a custom training step draws the same views the library's step draws.
"""

from __future__ import annotations

import numpy as np
import torch

__all__ = ["random_time_shift", "spec_augment"]


def random_time_shift(X, shift, per, rng):
    """Roll a batch circularly along time by random frame counts.

    Parameters
    ----------
    X : torch.Tensor of shape (n_clips, ..., n_frames)
        A batch of log-mel clips (any number of view and mel axes between).
    shift : tuple of (int, int)
        The inclusive range ``(low, high)`` the shift in frames is drawn from.
    per : {"clip", "episode"}
        ``"clip"`` draws one shift per clip (all views of a clip move together)
        and applies them with one gather; ``"episode"`` rolls the whole batch by a
        single draw.
    rng : numpy.random.RandomState
        The source of the draws.

    Returns
    -------
    torch.Tensor
        A new tensor of the shape of ``X``, frame ``j`` of a clip shifted by ``s`` being
        frame ``j - s`` of the input (as ``torch.roll``); ``X`` is not changed.

    Examples
    --------
    >>> import numpy as np, torch
    >>> from sklearn_hallu.nn import random_time_shift
    >>> X = torch.arange(5.0).reshape(1, 1, 5)
    >>> random_time_shift(X, (2, 2), "clip", np.random.RandomState(0))
    tensor([[[3., 4., 0., 1., 2.]]])
    """
    if per not in ("clip", "episode"):
        raise ValueError(f"per must be 'clip' or 'episode', got {per!r}")
    lo, hi = shift
    if per == "episode":
        return torch.roll(X, int(rng.randint(lo, hi + 1)), dims=-1)
    n, w = X.shape[0], X.shape[-1]
    s = torch.from_numpy(rng.randint(lo, hi + 1, size=n)).to(X.device)
    idx = (torch.arange(w, device=X.device)[None, :] - s[:, None]) % w  # out[j] = x[j - s]
    idx = idx.reshape((n,) + (1,) * (X.ndim - 2) + (w,)).expand_as(X)
    return torch.gather(X, -1, idx)


def spec_augment(X, masks, rng):
    """Blank random bands of mel rows and of frames of each clip (SpecAugment).

    Park et al. (2019)'s frequency and time masking. Masked cells become NaN, which
    the library's encoder reads as the training mean (as
    ``FrequencyMaskTransformer(fill="nan")``); every view of a clip gets the same bands.

    Parameters
    ----------
    X : torch.Tensor of shape (n_clips, ..., n_mels, n_frames)
        A batch of log-mel clips.
    masks : dict
        ``{"freq": (n_masks, max_width), "time": (n_masks, max_width)}``; either key may
        be left out. For each, ``n_masks`` bands per clip, each of a width drawn in
        ``[0, min(max_width, axis size)]`` at a random place (as
        ``HalluAudioClassifier(spec_augment=...)``, which checks the keys and values).
        The draws come in that order: the frequency bands, then the time bands; per band,
        the widths of all clips, then their places.
    rng : numpy.random.RandomState
        The source of the draws.

    Returns
    -------
    torch.Tensor
        A tensor of the shape of ``X``; ``X`` is not changed (without any band, ``X``
        itself is returned).

    Examples
    --------
    >>> import numpy as np, torch
    >>> from sklearn_hallu.nn import spec_augment
    >>> out = spec_augment(torch.zeros(2, 8, 10), {"time": (1, 3)}, np.random.RandomState(0))
    >>> out.shape, bool(out.isnan().any())
    (torch.Size([2, 8, 10]), True)
    """
    n = X.shape[0]
    for key, axis in (("freq", -2), ("time", -1)):
        n_masks, max_width = masks.get(key, (0, 0))
        size = X.shape[axis]
        pos = torch.arange(size, device=X.device)
        for _ in range(int(n_masks)):
            width = rng.randint(0, min(int(max_width), size) + 1, size=n)
            start = (rng.random_sample(n) * (size - width + 1)).astype(np.int64)
            start = torch.from_numpy(start).to(X.device)
            width = torch.from_numpy(width).to(X.device)
            band = (pos[None, :] >= start[:, None]) & (pos[None, :] < (start + width)[:, None])
            shape = (n,) + (1,) * (X.ndim - 2) + (size,)
            if axis == -2:
                shape = (n,) + (1,) * (X.ndim - 3) + (size, 1)
            X = X.masked_fill(band.reshape(shape), float("nan"))
    return X
