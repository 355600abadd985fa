"""Class-dependent synthetic sounds for tests, doctests and docs."""

from __future__ import annotations

import numpy as np
from sklearn.utils import check_random_state

__all__ = ["make_sounds"]


def make_sounds(
    n_classes=6,
    n_per_class=10,
    *,
    sr=16000,
    duration=1.0,
    noise=0.3,
    random_state=None,
):
    """Make a few-shot audio problem: each class is a tone plus a noise band.

    Class ``c`` has a base frequency (log-spaced between 150 Hz and 0.4 * sr),
    a rate of amplitude modulation and a band of filtered noise; each clip
    jitters the frequency by up to 4 %, starts at a random time and adds white
    noise of standard deviation ``noise`` relative to the tone. Low classes
    live below 2 kHz, high classes above, so frequency masks matter.

    Parameters
    ----------
    n_classes : int, default=6
        Number of classes.
    n_per_class : int, default=10
        Clips per class.
    sr : int, default=16000
        Sample rate in Hz.
    duration : float, default=1.0
        Seconds per clip.
    noise : float, default=0.3
        Standard deviation of the white noise, relative to the tone.
    random_state : int, RandomState instance or None, default=None
        Seeds the sounds.

    Returns
    -------
    X : ndarray of shape (n_classes * n_per_class, round(duration * sr)), float32
        Waveforms.
    y : ndarray of shape (n_classes * n_per_class,), int
        Labels ``0..n_classes-1``, clips of a class contiguous.

    Examples
    --------
    >>> from sklearn_hallu.datasets import make_sounds
    >>> X, y = make_sounds(n_classes=3, n_per_class=2, random_state=0)
    >>> X.shape, y.tolist()
    ((6, 16000), [0, 0, 1, 1, 2, 2])
    """
    if n_classes < 1 or n_per_class < 1:
        raise ValueError(
            f"n_classes and n_per_class must be >= 1, got {n_classes} and {n_per_class}."
        )
    rng = check_random_state(random_state)
    n = int(round(duration * sr))
    t = np.arange(n) / sr
    base = np.geomspace(150.0, 0.4 * sr, n_classes)
    mod_rate = rng.uniform(1.0, 8.0, n_classes)
    band_lo = rng.uniform(0.05, 0.35, n_classes) * sr
    X = np.empty((n_classes * n_per_class, n), dtype=np.float32)
    y = np.repeat(np.arange(n_classes), n_per_class)
    freqs = np.fft.rfftfreq(n, 1 / sr)
    for i, c in enumerate(y):
        f0 = base[c] * (1 + rng.uniform(-0.04, 0.04))
        onset = rng.uniform(0, 0.3 * duration)
        env = (t >= onset) * (0.6 + 0.4 * np.sin(2 * np.pi * mod_rate[c] * t))
        tone = np.sin(2 * np.pi * f0 * t + rng.uniform(0, 2 * np.pi))
        tone += 0.5 * np.sin(2 * np.pi * 2 * f0 * t)
        spec = np.fft.rfft(rng.normal(size=n))
        spec[(freqs < band_lo[c]) | (freqs > band_lo[c] * 1.3)] = 0
        band = np.fft.irfft(spec, n)
        band /= np.abs(band).max() + 1e-9
        clip = env * tone + 0.3 * band + noise * rng.normal(size=n)
        X[i] = 0.5 * clip / np.abs(clip).max()
    return X, y
