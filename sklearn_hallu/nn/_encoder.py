"""The multi-view encoder with its input standardisation stored as buffers."""

from __future__ import annotations

import torch

from ._backbone import MultiViewEncoder

__all__ = ["StandardizedEncoder"]


class StandardizedEncoder(MultiViewEncoder):
    """MultiViewEncoder that standardises its input with a mean and std kept as buffers.

    The buffers travel with the module (``state_dict``, pickling, ``.to(device)``).
    Cells that are NaN after standardising (masked cells of
    ``FrequencyMaskTransformer(fill="nan")``) are read as 0, the training mean.

    Parameters
    ----------
    n_views : int, default=1
        Number of views.
    channels : tuple of int, default=(64, 64, 64)
        Backbone widths.
    crops : list of (int, int, int, int) or None, default=None
        Window of each view, as in :class:`MultiViewEncoder`.
    channels_last : bool, default=True
        Channels-last memory format.
    pooling : {"time_mean", "time_mean_max", "time_mean_std", "flatten"}, \
            default="time_mean"
        How each backbone turns its last feature map into a vector.
    fuse_views : bool, default=False
        Grouped convolutions for all views at once.
    mean : float, default=0.0
        Subtracted from the input.
    std : float, default=1.0
        The input is divided by it after subtracting ``mean``.
    time_pool : sequence of int or None, default=None
        Max pooling along time of each conv block (``None``: 4 in each).
    freq_pool : sequence of int or None, default=None
        Max pooling along frequency of each conv block (``None``: 4 in each).
    """

    def __init__(self, n_views=1, channels=(64, 64, 64), crops=None, channels_last=True,
                 pooling="time_mean", fuse_views=False, mean=0.0, std=1.0, time_pool=None,
                 freq_pool=None):
        super().__init__(n_views, channels, crops, channels_last, pooling, fuse_views,
                         time_pool=time_pool, freq_pool=freq_pool)
        self.register_buffer("mean", torch.tensor(float(mean)))
        self.register_buffer("std", torch.tensor(float(std)))

    def forward(self, X):
        """Compute the embeddings of standardised views.

        Parameters
        ----------
        X : Tensor of shape (batch, n_views, n_mels, n_frames)
            Views; NaN allowed where masked.

        Returns
        -------
        Tensor of shape (batch, embedding_dim)
            The views' embeddings concatenated.
        """
        # masked (NaN) cells of band views read as the training mean: 0 here
        return super().forward(torch.nan_to_num((X - self.mean) / self.std, nan=0.0))
