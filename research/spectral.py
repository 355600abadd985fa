"""Two spectral augmentations in training (issue 23 levers; rule
``research/results/spectral/RULES.md``).

- :func:`frequency_shift`: each clip's log-mel moved up or down by a whole number of mel
  rows, the rows it vacates filled with its nearest edge row. Over 1-4 kHz a shift of 4
  of the library's 128 mel rows (0-8 kHz) is a frequency scale of about 10 %, the range
  of vocal tract length perturbation (Jaitly and Hinton 2013); the aim is a network that
  keys on spectral shape rather than absolute position (voices, pitch).
- :func:`filter_gain`: FilterAugment's linear type (Nam et al. 2022): each clip's mel
  axis is cut into 3-5 bands of at least 6 rows, a gain in [-6, 6] dB is drawn at every
  band edge (the two ends included) and interpolated linearly between them, and the
  curve is added to the log-mel (decibels), as a random smooth equaliser would. Unlike
  the authors' code, which draws the band count and edges once per batch, every clip
  draws its own bands here.

Both act on each clip of a training episode after the library's time shift; the draws
come from a generator of their own (seeded from the net's episode generator without
advancing it), so the episodes and time shifts are those of the run without the lever:
the pair differs by the augmentation alone. :class:`SpectralAugment` sets the step when
training begins, as ``research/mixup.py`` does; prediction is unchanged.
"""

from __future__ import annotations

import numpy as np
import torch
from skorch.dataset import unpack_data

from research.supcon import OwnTrainingStep

__all__ = ["frequency_shift", "filter_gain", "SpectralAugment"]


def frequency_shift(X, max_rows, rng):
    """Move each clip along the mel axis (``-2``) by a draw in ``[-max_rows, max_rows]``.

    Row ``m`` of the output is row ``clip(m - s, 0, n_mels - 1)`` of the input: a
    positive ``s`` moves the content to higher rows and repeats the lowest row below it.
    """
    n, rows = X.shape[0], X.shape[-2]
    s = torch.from_numpy(rng.randint(-max_rows, max_rows + 1, size=n)).to(X.device)
    idx = (torch.arange(rows, device=X.device)[None, :] - s[:, None]).clamp(0, rows - 1)
    idx = idx.reshape((n,) + (1,) * (X.ndim - 3) + (rows, 1)).expand_as(X)
    return torch.gather(X, -2, idx)


def band_gains(rows, rng, db=6.0, n_bands=(3, 5), min_width=6):
    """One clip's gain curve in dB over ``rows`` mel rows (FilterAugment's linear type).

    ``n_bands`` is drawn in the inclusive range; the band widths are ``min_width`` plus
    a random split of the rows left over; a gain uniform in ``[-db, db]`` at each of the
    ``n + 1`` band edges, linear in between.
    """
    n = int(rng.randint(n_bands[0], n_bands[1] + 1))
    slack = rows - 1 - n * min_width
    if slack < 0:
        raise ValueError(f"{rows} mel rows cannot hold {n} bands of {min_width} rows")
    cuts = np.sort(rng.randint(0, slack + 1, size=n - 1))
    widths = np.diff(np.concatenate([[0], cuts, [slack]])) + min_width
    edges = np.concatenate([[0], np.cumsum(widths)])  # n + 1 edges, the last rows - 1
    gains = rng.uniform(-db, db, size=n + 1)
    return np.interp(np.arange(rows), edges, gains)


def filter_gain(X, rng, **kwargs):
    """Add to each clip's log-mel (dB) its own :func:`band_gains` curve along the mel axis."""
    n, rows = X.shape[0], X.shape[-2]
    curves = np.stack([band_gains(rows, rng, **kwargs) for _ in range(n)])
    curves = torch.as_tensor(curves, dtype=X.dtype, device=X.device)
    return X + curves.reshape((n,) + (1,) * (X.ndim - 3) + (rows, 1))


class SpectralAugment(OwnTrainingStep):
    """At the start of training, make each training step augment its clips along frequency.

    Parameters
    ----------
    kind : {"shift", "gain"}
        :func:`frequency_shift` (``value`` the largest shift in mel rows) or
        :func:`filter_gain` (``value`` the largest gain in dB).
    value : int or float
        See ``kind``.
    """

    def __init__(self, kind, value):
        if kind not in ("shift", "gain"):
            raise ValueError(f"kind must be 'shift' or 'gain', got {kind!r}")
        if not value > 0:
            raise ValueError(f"value must be a positive number, got {value!r}")
        if kind == "shift" and value != int(value):
            raise ValueError(f"a shift is a whole number of mel rows, got {value!r}")
        self.kind, self.value = kind, value

    def augment(self, Xi, rng):
        if self.kind == "shift":
            return frequency_shift(Xi, int(self.value), rng)
        return filter_gain(Xi, rng, db=float(self.value))

    def on_train_begin(self, net, **kwargs):
        self.check_plain_baseline(net)
        copy = np.random.RandomState()
        copy.set_state(net.episode_rng.get_state())  # the episode generator is not advanced
        own = np.random.RandomState([int(copy.randint(2**31)), 2027])

        def train_step_single(batch, **fit_params):
            net._set_training(True)
            Xi, yi = unpack_data(batch)
            Xi = self.augment(self.shifted(net, Xi, net.episode_rng), own)
            emb = net.infer(Xi, **fit_params)
            loss = net.get_loss(emb, yi, X=Xi, training=True)
            loss.backward()
            net.history.record_batch("train_acc", net.criterion_.last_accuracy)
            return {"loss": loss, "y_pred": emb}

        net.train_step_single = train_step_single
