"""Backbone and multi-view encoder modules."""

from __future__ import annotations

from numbers import Integral

import torch
from torch import nn

from ._fused import FusedConvBlock

__all__ = ["ConvBlock", "Backbone", "MultiViewEncoder", "POOLINGS", "pool_feature_map",
           "block_pools"]

#: How a backbone's last feature map (batch, channels, mel cells, time cells) becomes a
#: vector: the values of ``pooling`` that :func:`pool_feature_map` accepts.
POOLINGS = ("time_mean", "time_mean_max", "time_mean_std", "flatten")


def pool_feature_map(z, pooling="time_mean"):
    """Pool a feature map over time: what a backbone does after its last block.

    Parameters
    ----------
    z : Tensor of shape (batch, channels, n_freq, n_time)
        The last block's output.
    pooling : str, default="time_mean"
        One of ``POOLINGS``. ``"time_mean"``: the mean over time.
        ``"time_mean_max"``: the mean plus the maximum over time (the global
        pooling of Kong et al.'s PANNs, 2020), the same size.
        ``"time_mean_std"``: the mean and the standard deviation over time side by
        side (statistics pooling, Snyder et al.'s x-vectors, 2018), twice the size;
        the deviation is ``sqrt(var + 1e-5)``, so that its gradient stays finite
        where the map is constant over time.
        ``"flatten"``: every cell kept.

    Returns
    -------
    Tensor of shape (batch, channels, ...)
        Channels first, so that grouped views stay apart:
        ``(batch, channels, n_freq)`` for the mean and the mean plus max,
        ``(batch, channels, 2 * n_freq)`` for the statistics and
        ``(batch, channels, n_freq, n_time)`` for ``"flatten"``.

    Examples
    --------
    >>> import torch
    >>> from sklearn_hallu.nn import pool_feature_map
    >>> z = torch.arange(8.0).reshape(1, 1, 2, 4)
    >>> pool_feature_map(z, "time_mean")
    tensor([[[1.5000, 5.5000]]])
    >>> pool_feature_map(z, "time_mean_max")
    tensor([[[ 4.5000, 12.5000]]])
    >>> pool_feature_map(z, "time_mean_std").shape
    torch.Size([1, 1, 4])
    """
    if pooling == "time_mean":
        return z.mean(dim=-1)
    if pooling == "time_mean_max":
        return z.mean(dim=-1) + z.amax(dim=-1)
    if pooling == "time_mean_std":
        mean = z.mean(dim=-1)
        std = torch.sqrt(z.var(dim=-1, unbiased=False) + 1e-5)
        return torch.cat([mean, std], dim=-1)
    if pooling == "flatten":
        return z
    _check_pooling(pooling)


def _check_pooling(pooling):
    """Raise a ValueError naming the choices unless ``pooling`` is one of them."""
    if pooling not in POOLINGS:
        raise ValueError(f"pooling must be one of {', '.join(map(repr, POOLINGS))}; "
                         f"got {pooling!r}.")


def block_pools(n_blocks, time_pool=None, freq_pool=None):
    """The max-pooling window of each conv block: its mel rows by its time frames.

    Parameters
    ----------
    n_blocks : int
        Number of blocks.
    time_pool : sequence of int or None, default=None
        Frames (or cells) pooled along time by each block; ``None``: 4 in each
        (square windows, the paper's backbone).
    freq_pool : sequence of int or None, default=None
        Mel rows (or cells) pooled along frequency by each block; ``None``: 4 in each.

    Returns
    -------
    list of int or (int, int)
        One window per block: an int where it is square (the fast path of
        :class:`~sklearn_hallu.nn.FusedConvBlock`), else ``(freq, time)``.

    Raises
    ------
    ValueError
        If ``time_pool`` or ``freq_pool`` does not give one integer >= 1 per block.

    Examples
    --------
    >>> from sklearn_hallu.nn import block_pools
    >>> block_pools(3, (4, 4, 1))
    [4, 4, (4, 1)]
    >>> block_pools(3, (4, 4, 1), freq_pool=(4, 4, 2))
    [4, 4, (2, 1)]
    """
    times = _per_block("time_pool", time_pool, n_blocks)
    freqs = _per_block("freq_pool", freq_pool, n_blocks)
    return [f if f == t else (f, t) for f, t in zip(freqs, times)]


def _per_block(name, sizes, n_blocks):
    """``sizes`` as one int per block (4 each when None), or a ValueError naming ``name``."""
    if sizes is None:
        return [4] * n_blocks
    given = sizes
    sizes = (sizes,) if isinstance(sizes, (Integral, str)) else tuple(sizes)
    if (len(sizes) != n_blocks
            or not all(isinstance(t, Integral) and not isinstance(t, bool) and t >= 1
                       for t in sizes)):
        raise ValueError(f"{name} must give one pooling size >= 1 per conv block "
                         f"({n_blocks} here); got {given!r}.")
    return [int(t) for t in sizes]


class ConvBlock(nn.Module):
    """3x3 convolution, batch norm, ReLU, max pooling (4x4 unless ``pool`` says otherwise).

    The pooling is applied before the ReLU: ReLU is monotone, so
    ``maxpool(relu(x)) == relu(maxpool(x))`` exactly, and the ReLU (forward and
    backward) then touches 16x fewer values. ``ceil_mode=True`` keeps a partial
    window at the edge so that narrow band views (e.g. 57 mel rows) still
    reduce to at least one cell after three blocks.
    """

    def __init__(self, in_channels: int, out_channels: int, pool=4, groups: int = 1):
        super().__init__()
        self.conv = nn.Conv2d(in_channels, out_channels, 3, padding=1, bias=False,
                              groups=groups)
        self.bn = nn.BatchNorm2d(out_channels)
        self.pool = nn.MaxPool2d(pool, ceil_mode=True)
        self.relu = nn.ReLU(inplace=True)

    def forward(self, x):
        return self.relu(self.pool(self.bn(self.conv(x))))


class Backbone(nn.Module):
    """ConvBlocks (three in the paper's backbone), then pooling to a vector: one view's
    feature extractor.

    Parameters
    ----------
    channels : tuple of int
        Output channels of each block (the paper's 3 blocks; Chou et al. use
        (128, 256, 384)).
    pooling : {"time_mean", "time_mean_max", "time_mean_std", "flatten"}
        ``"time_mean"`` averages the last block's output over time (frames)
        and keeps the frequency cells: the embedding does not depend on when a
        sound happens in the clip (Chou et al. pool over time with attention).
        ``"time_mean_max"`` adds the maximum over time to the mean, and
        ``"time_mean_std"`` puts the standard deviation over time beside it
        (:func:`pool_feature_map`). ``"flatten"`` keeps every time-frequency
        cell (Snell et al.'s conv-4).
    groups : int, default=1
        Views run as one network of grouped convolutions (see ``fuse_views``
        of :class:`MultiViewEncoder`).
    fused : bool, default=True
        Ungrouped blocks are :class:`~sklearn_hallu.nn.FusedConvBlock`: the same
        function and state dict as :class:`ConvBlock`, about 4.5x faster to train
        on CPU than the paper's eager order (the repository's ``benchmarks/bench_train.py``, variant
        ``fused_bn_pool``).
        ``False`` keeps the plain modules (a reference for tests).
    time_pool : sequence of int or None, default=None
        Max pooling along time of each block (:func:`block_pools`); ``None``:
        4 in every block. The parameters do not depend on it.
    freq_pool : sequence of int or None, default=None
        Max pooling along frequency of each block; ``None``: 4 in every block.
        Fewer rows pooled by the last block keep more mel cells in the
        embedding (``(4, 4, 2)``: 4 cells instead of 2, twice the size). The
        parameters do not depend on it.
    """

    def __init__(self, channels=(64, 64, 64), pooling="time_mean", groups=1, fused=True,
                 time_pool=None, freq_pool=None):
        super().__init__()
        _check_pooling(pooling)
        blocks, c_in = [], groups
        for c, pool in zip(channels, block_pools(len(channels), time_pool, freq_pool)):
            if fused and groups == 1:
                blocks.append(FusedConvBlock(c_in, c, pool=pool))
            else:
                blocks.append(ConvBlock(c_in, c * groups, pool=pool, groups=groups))
            c_in = c * groups
        self.blocks = nn.Sequential(*blocks)
        self.pooling = pooling
        self.groups = groups

    def forward(self, x):  # x: (B, groups, H, W), one channel per view
        z = pool_feature_map(self.blocks(x), self.pooling)
        # (B, groups * C, ...) -> view-major flat embedding, as separate backbones give
        return z.reshape(z.shape[0], self.groups, -1).flatten(1)

    def output_dim(self, height: int, width: int) -> int:
        with torch.no_grad():
            was = self.training
            self.eval()
            out = self(torch.zeros(1, self.groups, height, width)).shape[1]
            self.train(was)
        return out // self.groups


class MultiViewEncoder(nn.Module):
    """One backbone per view; the embeddings of the views are concatenated.

    Parameters
    ----------
    n_views : int
        Number of views (1: a plain prototypical network).
    channels : tuple of int
        Backbone widths, the same for every view.
    crops : list of (row_start, row_stop, col_start, col_stop) or None
        When given, view ``v`` is cropped to that window before its backbone:
        a band view then sees only its own mel rows (a variant of the model).
    channels_last : bool
        Run convolutions in channels-last memory format (faster on CPU).
    pooling : {"time_mean", "time_mean_max", "time_mean_std", "flatten"}
        How each backbone turns its last feature map into a vector.
    fuse_views : bool
        Run the views' backbones as one network of grouped convolutions
        (``groups=n_views``): the same function as separate backbones (each
        group sees one view and has its own weights and batch-norm channels),
        computed in one pass per layer. Ignored with ``crops``.
    fused_blocks : bool
        Ungrouped blocks as :class:`~sklearn_hallu.nn.FusedConvBlock` (the same
        function, faster; see :class:`Backbone`).
    time_pool : sequence of int or None
        Max pooling along time of each block (:class:`Backbone`).
    freq_pool : sequence of int or None
        Max pooling along frequency of each block (:class:`Backbone`).

    Input ``(B, n_views, H, W)``; output ``(B, sum of view dims)``. The slice of
    each view in the output is ``view_slices``, set by :meth:`set_input_shape`.
    """

    def __init__(self, n_views=1, channels=(64, 64, 64), crops=None, channels_last=True,
                 pooling="time_mean", fuse_views=False, fused_blocks=True, time_pool=None,
                 freq_pool=None):
        super().__init__()
        self.n_views = n_views
        self.crops = crops
        self.channels_last = channels_last
        self.fused = bool(fuse_views) and crops is None and n_views > 1
        if self.fused:
            self.backbones = nn.ModuleList([Backbone(tuple(channels), pooling, groups=n_views,
                                                     time_pool=time_pool,
                                                     freq_pool=freq_pool)])
        else:
            self.backbones = nn.ModuleList(
                Backbone(tuple(channels), pooling, fused=fused_blocks, time_pool=time_pool,
                         freq_pool=freq_pool)
                for _ in range(n_views)
            )
        self.view_slices = None

    def set_input_shape(self, height: int, width: int):
        slices, start = [], 0
        if self.fused:
            d = self.backbones[0].output_dim(height, width)
            self.view_slices = [slice(v * d, (v + 1) * d) for v in range(self.n_views)]
            return self
        for v, bb in enumerate(self.backbones):
            h, w = height, width
            if self.crops is not None:
                r0, r1, c0, c1 = self.crops[v]
                h, w = r1 - r0, c1 - c0
            d = bb.output_dim(h, w)
            slices.append(slice(start, start + d))
            start += d
        self.view_slices = slices
        return self

    def forward(self, X):
        if self.fused:
            if self.channels_last:
                X = X.contiguous(memory_format=torch.channels_last)
            return self.backbones[0](X)
        outs = []
        for v, bb in enumerate(self.backbones):
            x = X[:, v : v + 1]
            if self.crops is not None:
                r0, r1, c0, c1 = self.crops[v]
                x = x[:, :, r0:r1, c0:c1]
            if self.channels_last:
                x = x.contiguous(memory_format=torch.channels_last)
            outs.append(bb(x))
        return torch.cat(outs, dim=1)
