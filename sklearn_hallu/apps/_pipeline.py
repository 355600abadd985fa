"""The one model factory of the applications (cli, demo, reproduce)."""

from __future__ import annotations

import numpy as np
from sklearn.base import clone
from sklearn.pipeline import Pipeline

from .. import FrequencyMaskTransformer, HalluAudioClassifier, LogMelTransformer

__all__ = ["make_model", "VIEWS"]

#: The model families: whole spectrogram only, whole + low + high band, whole + time halves.
VIEWS = ("baseline", "hallu", "time")


def make_model(views="hallu", *, split_hz=2000.0, logmel=None, mask_params=None,
               spectrogram_shape=None, **clf_params):
    """Build a baseline, HalluAudio or time-concept model.

    Each application passes its own classifier settings explicitly; nothing
    here has defaults of its own beyond the estimators'.

    Parameters
    ----------
    views : {"baseline", "hallu", "time"}, default="hallu"
        ``"baseline"``: the whole spectrogram only (a plain prototypical
        network); ``"hallu"``: whole, low and high band (HalluAudio);
        ``"time"``: whole, first and second half of the frames (the ablation).
    split_hz : float, default=2000.0
        Split frequency of the ``"hallu"`` bands.
    logmel : dict or None, default=None
        Parameters of a :class:`~sklearn_hallu.LogMelTransformer` put first
        (the model then reads waveforms or files); ``None``: the model reads
        log-mel spectrograms.
    mask_params : dict or None, default=None
        More parameters of the :class:`~sklearn_hallu.FrequencyMaskTransformer`
        (e.g. ``{"fill": "min"}``).
    spectrogram_shape : tuple of int or None, default=None
        ``(n_mels, n_frames)`` of the spectrograms. With ``crop_views=True``
        and band views, the crop windows are then the mask transformer's
        ``view_windows_`` instead of being found on the training data.
    **clf_params : dict
        Parameters of the :class:`~sklearn_hallu.HalluAudioClassifier`.

    Returns
    -------
    model : Pipeline or HalluAudioClassifier
        A Pipeline (log-mel, masks, classifier: the steps that apply), or the
        bare classifier when it is the only step.
    """
    if views not in VIEWS:
        raise ValueError(f"views must be one of {VIEWS}, got {views!r}.")
    clf = HalluAudioClassifier(**clf_params)
    steps = [] if logmel is None else [("logmel", LogMelTransformer(**logmel))]
    if views != "baseline":
        extra = dict(mask_params or {})
        masks = (FrequencyMaskTransformer(axis="time", **extra) if views == "time"
                 else FrequencyMaskTransformer(split_hz=split_hz, **extra))
        if clf_params.get("crop_views") is True and spectrogram_shape is not None:
            shape = (1, *spectrogram_shape)
            clf.set_params(crop_views=clone(masks).fit(np.zeros(shape, np.float32)).view_windows_)
        steps.append(("masks", masks))
    return Pipeline(steps + [("clf", clf)]) if steps else clf
