"""Batch norm, max pooling and ReLU as one step that never writes the full-size output.

In a block ``conv -> batch norm -> max pool -> ReLU`` the batch norm is, per
channel, an affine map ``a * y + b`` (``a = weight / sqrt(var + eps)``): monotone.
So the max over a pooling window of the normalised values is the normalised
value of the window's max of ``y`` when ``a >= 0``, and of its min when ``a < 0``.
:class:`BatchNormPoolReLU` therefore pools the convolution's output ``y``
directly (its max, or the max of ``-y`` on channels with ``a < 0``) and applies
the affine map and the ReLU to the 16x smaller pooled grid: the same function as
the three eager modules, without the full-size batch-norm output and the
zero-filled full-size gradient of max pooling's backward.

The backward pass is written out: the batch-norm statistics make the gradient
with respect to ``y`` dense, ``dy = alpha + beta * y`` per channel, plus the
pooled gradient added at each window's selected cell, so it costs one pass over
``y`` instead of the eager chain's several.

A first block (one input channel) never keeps its full-size convolution output:
it is computed a few clips at a time and pooled while still in the cache
(:func:`conv_pool`), and only inside the box of rows and columns where it can be
nonzero (:func:`live_box`). HalluAudio's band views are zero outside their band
after standardising (the masked cells read as the training mean), the time
concept's views outside their half, and a bias-free convolution of zeros with zero
padding is exactly zero, so those windows' maxima are 0 without computing them.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["BatchNormPoolReLU", "FusedConvBlock", "conv_pool", "first_block"]

#: Bytes of full-size convolution output a first block computes at a time: a few
#: clips, pooled while still in the cache instead of written out to memory.
_CHUNK_BYTES = 1 << 22


def _col(v):
    return v.view(1, -1, 1, 1)


def _mean_var(y):
    """Per-channel mean and biased variance of ``y`` (B, C, H, W), summed in float64.

    The same statistics as ``torch.var_mean(y, dim=(0, 2, 3), unbiased=False)``,
    about 3x faster on CPU: the float32 values and squares are summed in float64, so
    ``E[y^2] - E[y]^2`` keeps float32 accuracy unless ``|mean|`` is many orders of
    magnitude above the standard deviation.
    """
    n = y.numel() // y.shape[1]
    mean = y.sum(dim=(0, 2, 3), dtype=torch.float64) / n
    var = (y * y).sum(dim=(0, 2, 3), dtype=torch.float64) / n - mean * mean
    return mean.to(y.dtype), var.clamp_min(0).to(y.dtype)


def _bn_scale(weight, var, eps, dtype):
    """``1 / sqrt(var + eps)``, the affine scale ``weight * invstd`` and its sign (+-1)."""
    invstd = torch.rsqrt(var + eps)
    scale = weight * invstd
    return invstd, scale, torch.where(scale < 0, -1.0, 1.0).to(dtype)


def _scatter_add_at(dy, idx, vals):
    """``dy[b, c].flat[idx[b, c, i, j]] += vals[b, c, i, j]``, in place, any memory format."""
    n, c, h, w = dy.shape
    if dy.is_contiguous():
        offset = idx + _col(torch.arange(c, device=dy.device)) * (h * w)
        flat = dy.view(n, -1)
    else:  # channels_last: element (c, p) of a plane sits at p * C + c
        offset = idx * c + _col(torch.arange(c, device=dy.device))
        flat = dy.permute(0, 2, 3, 1).view(n, -1)
    flat.scatter_add_(1, offset.reshape(n, -1), vals.reshape(n, -1).to(dy.dtype))
    return dy


class _BatchNormPoolReLUFunction(torch.autograd.Function):
    @staticmethod
    def forward(ctx, y, weight, bias, mean, var, eps, pool, batch_stats):
        invstd, scale, sign = _bn_scale(weight, var, eps, y.dtype)
        z = y if bool((sign > 0).all()) else y * _col(sign)
        zmax, idx = F.max_pool2d(z, pool, pool, ceil_mode=True, return_indices=True)
        pre = zmax * _col(scale.abs()) + _col(bias - scale * mean)
        out = torch.relu(pre)
        ctx.save_for_backward(y, weight, mean, invstd, sign, zmax, idx, out)
        ctx.batch_stats = batch_stats
        return out

    @staticmethod
    def backward(ctx, grad_out):
        y, weight, mean, invstd, sign, zmax, idx, out = ctx.saved_tensors
        g = grad_out * (out > 0)
        xhat = (zmax * _col(sign) - _col(mean)) * _col(invstd)  # normalised selected cells
        d_bias = g.sum(dim=(0, 2, 3))
        d_weight = (g * xhat).sum(dim=(0, 2, 3))
        direct = g * _col(weight * invstd)  # through the selected cell of each window
        if ctx.batch_stats:
            n = y.numel() // y.shape[1]
            # through mean and var: d_mean = -w*invstd*sum(g); d_var = -0.5*invstd^2*w*sum(g*xhat)
            d_mean = -weight * invstd * d_bias
            d_var = -0.5 * weight * invstd * invstd * d_weight
            beta = 2.0 * d_var / n
            alpha = d_mean / n - beta * mean
            dy = y * _col(beta) + _col(alpha)
        else:
            dy = torch.zeros_like(y)
        _scatter_add_at(dy, idx, direct)
        return dy, d_weight, d_bias, None, None, None, None, None


class BatchNormPoolReLU(nn.BatchNorm2d):
    """``relu(max_pool2d(batch_norm(y), pool, ceil_mode=True))`` computed on the pooled grid.

    A drop-in for ``BatchNorm2d`` followed by ``MaxPool2d(pool, ceil_mode=True)`` and
    ``ReLU``: same parameters and buffers (state dicts are interchangeable with a
    ``BatchNorm2d``), same running-statistics update, same outputs and gradients up
    to float rounding (``tests/test_nn.py`` compares them).

    Parameters
    ----------
    num_features : int
        Channels of the input.
    pool : int or (int, int), default=4
        Size and stride of the pooling window (rows, columns when a pair).
    eps : float, default=1e-5
        Added to the variance, as in ``BatchNorm2d``.
    momentum : float, default=0.1
        Running-statistics momentum, as in ``BatchNorm2d``.
    """

    def __init__(self, num_features, pool=4, eps=1e-5, momentum=0.1):
        super().__init__(num_features, eps=eps, momentum=momentum)
        self.pool = pool

    def forward(self, y):
        batch_stats = self.training or not self.track_running_stats
        if batch_stats:
            mean, var = _mean_var(y.detach())
            if self.training and self.track_running_stats:
                self._update_running_stats(mean, var, y.numel() // y.shape[1])
        else:
            mean, var = self.running_mean, self.running_var
        return _BatchNormPoolReLUFunction.apply(
            y, self.weight, self.bias, mean, var, self.eps, self.pool, batch_stats
        )

    @torch.no_grad()
    def _update_running_stats(self, mean, var, n):
        self.num_batches_tracked.add_(1)
        m = self.momentum
        if m is None:  # cumulative average, as BatchNorm2d
            m = 1.0 / float(self.num_batches_tracked)
        self.running_mean.mul_(1 - m).add_(mean, alpha=m)
        self.running_var.mul_(1 - m).add_(var * (n / max(n - 1, 1)), alpha=m)


def _clips_per_chunk(n, bytes_per_clip, cuda):
    """Clips per chunk: all of them on a GPU, about ``_CHUNK_BYTES`` of work on a CPU."""
    return n if cuda else max(1, _CHUNK_BYTES // max(bytes_per_clip, 1))


def _span(hit, n, pool):
    """``[a, b)`` on the pooling grid covering ``hit`` (indices, sorted) plus one cell."""
    if hit.numel() == 0:
        return 0, n
    a = max(int(hit[0]) - 1, 0) // pool * pool
    b = min(n, -(-(int(hit[-1]) + 2) // pool) * pool)
    return a, b


def live_box(x, pool):
    """Rows ``[a, b)`` and columns ``[c0, c1)`` outside which a conv of ``x`` is zero.

    ``conv2d(x, w, padding=1)`` with any bias-free ``w`` is exactly zero outside the
    box: ``x`` (B, 1, H, W) is zero beyond one cell of it in every clip (HalluAudio's
    band views outside their band; the time concept's halves). The bounds lie on
    the pooling grid (``b`` may be H, ``c1`` W), so the windows outside the box see
    only zeros. NaN counts as nonzero; an all-zero ``x`` gives the whole plane.
    """
    nz = x.detach().ne(0)[:, 0]
    rows = torch.nonzero(nz.any(dim=2).any(dim=0)).flatten()
    cols = torch.nonzero(nz.any(dim=1).any(dim=0)).flatten()
    if rows.numel() == 0:
        return (0, x.shape[2], 0, x.shape[3])
    return _span(rows, x.shape[2], pool) + _span(cols, x.shape[3], pool)


def _conv_pool_box(table, weight, pool, out_shape, box):
    """Window maxima of ``table @ weight``, the convolution over ``box`` = (a, b, c0, c1).

    Returns the full-size maxima (B, C, Hp, Wp), channels last, 0 outside the box,
    and the box's indices as (B, box rows, box cols, C) in the table's plane.
    """
    (n, c, hp, wp), (a, b, c0, c1) = out_shape, box
    hb, wb = b - a, c1 - c0
    pa, pc = a // pool, c0 // pool
    ph, pw = -(-hb // pool), -(-wb // pool)
    new = torch.empty if (ph, pw) == (hp, wp) else torch.zeros
    zmax = new((n, hp, wp, c), dtype=table.dtype, device=table.device).permute(0, 3, 1, 2)
    local = torch.empty((n, ph, pw, c), dtype=torch.int64, device=table.device)
    w2 = weight.reshape(c, 9).T
    step = _clips_per_chunk(n, c * hb * wb * table.element_size(), table.is_cuda)
    for i in range(0, n, step):
        tb = table[i : i + step]
        y = (tb.reshape(-1, 9) @ w2).view(tb.shape[0], hb, wb, c).permute(0, 3, 1, 2)
        z, k = F.max_pool2d(y, pool, pool, ceil_mode=True, return_indices=True)
        zmax[i : i + step, :, pa : pa + ph, pc : pc + pw] = z
        local[i : i + step] = k.permute(0, 2, 3, 1)
    return zmax, local


def conv_pool(x, weight, pool, box=None, table=None):
    """``max_pool2d(conv2d(x, weight, padding=1), pool, ceil_mode=True, return_indices=True)``.

    For a one-channel ``x`` (B, 1, H, W) the convolution is a product of the 3x3
    patch table (:func:`_patches`) with the (9, C) filters, computed a few clips at
    a time (the full-size output is pooled while still in the cache) and only over
    ``box`` (default :func:`live_box`): the windows outside it are 0, their index the
    window's first cell, exactly what max pooling of zeros gives.

    Parameters
    ----------
    x : Tensor of shape (B, 1, H, W)
    weight : Tensor of shape (C, 1, 3, 3)
    pool : int
    box : (int, int, int, int) or None
        Rows ``[a, b)`` and columns ``[c0, c1)`` outside which the convolution is 0.
    table : Tensor of shape (B, b - a, c1 - c0, 9) or None
        ``_patches(x[:, :, a:b, c0:c1])`` when already computed.

    Returns
    -------
    zmax, idx : Tensor of shape (B, C, ceil(H / pool), ceil(W / pool))
        Window maxima and their flat indices in the (H, W) plane (channels last).
    """
    n, _, h, w = x.shape
    c = weight.shape[0]
    a, b, c0, c1 = live_box(x, pool) if box is None else box
    if table is None:
        table = _patches(x[:, :, a:b, c0:c1])
    hp, wp = -(-h // pool), -(-w // pool)
    zmax, local = _conv_pool_box(table, weight, pool, (n, c, hp, wp), (a, b, c0, c1))
    idx = ((torch.arange(hp, device=x.device) * (pool * w))[:, None]
           + torch.arange(wp, device=x.device) * pool).expand(n, c, hp, wp).clone()
    local = local.permute(0, 3, 1, 2)
    row, col = local // (c1 - c0) + a, local % (c1 - c0) + c0
    idx[:, :, a // pool : a // pool + local.shape[2], c0 // pool : c0 // pool + local.shape[3]] = (
        row * w + col)
    return zmax, idx


def _patches(x):
    """The 3x3 patches of zero-padded ``x`` (B, 1, H, W), one per cell: shape (B, H, W, 9)."""
    h, w = x.shape[2], x.shape[3]
    xp = F.pad(x[:, 0], (1, 1, 1, 1))
    return torch.stack([xp[:, r : r + h, c : c + w] for r in range(3) for c in range(3)], dim=-1)


def _patch_moments(table):
    """Sum ``S`` (9,) and Gram ``G`` (9, 9) of the patches in ``table`` (float64)."""
    p = table.reshape(-1, 9).double()
    return p.sum(dim=0), p.T @ p


class _FirstBlockFunction(torch.autograd.Function):
    """relu(maxpool(bn(conv3x3(x)))) for a one-channel input that needs no gradient.

    The convolution is linear in the 3x3 patches of ``x``, so the batch statistics of
    its output and the weight gradient's dense part follow from the patch moments
    ``S`` and ``G`` (9 and 81 numbers); only the window maxima need the full-size
    output, which is pooled as it is computed (:func:`conv_pool`). The weight
    gradient's sparse part reads the patch of each window's selected cell from the
    patch table (a clip at a time, only the windows inside the live box).
    """

    @staticmethod
    def forward(ctx, x, conv_w, bn_w, bn_b, stats, eps, pool, box):
        c = conv_w.shape[0]
        w2 = conv_w.reshape(c, 9)
        mean, var, moments = stats
        invstd, scale, sign = _bn_scale(bn_w, var, eps, x.dtype)
        # max of (sign * y) per window, from a convolution with sign-flipped filters
        n, _, h, w = x.shape
        shape = (n, c, -(-h // pool), -(-w // pool))
        zmax, idx = _conv_pool_box(moments[2], conv_w * sign.view(-1, 1, 1, 1), pool, shape,
                                   box)
        pre = zmax * _col(scale.abs()) + _col(bn_b - scale * mean)
        out = torch.relu(pre)
        ctx.save_for_backward(w2, bn_w, mean, invstd, sign, zmax, idx, out)
        ctx.moments, ctx.box, ctx.pool, ctx.shape = moments, box, pool, x.shape
        return out

    @staticmethod
    def backward(ctx, grad_out):
        w2, bn_w, mean, invstd, sign, zmax, idx, out = ctx.saved_tensors
        g = grad_out * (out > 0)
        xhat = (zmax * _col(sign) - _col(mean)) * _col(invstd)
        d_bias = g.sum(dim=(0, 2, 3))
        d_bnw = (g * xhat).sum(dim=(0, 2, 3))
        direct = g * _col(bn_w * invstd)  # d loss / d y at each window's selected cell
        grad_w = None
        if ctx.needs_input_grad[1]:
            s_sum, gram, table = ctx.moments
            n_b, c, h, w = ctx.shape[0], w2.shape[0], ctx.shape[2], ctx.shape[3]
            n = n_b * h * w
            d_mean = -bn_w * invstd * d_bias
            d_var = -0.5 * bn_w * invstd * invstd * d_bnw
            beta = (2.0 * d_var / n).double()
            alpha = (d_mean / n).double() - beta * mean.double()
            # dense part: sum_m (alpha + beta * y[m]) * patch[m]
            dense = alpha[:, None] * s_sum[None, :] + beta[:, None] * (w2.double() @ gram)
            # sparse part: each selected cell's gradient times its own patch; windows
            # outside the box select zero patches and add nothing
            a, b, c0, c1 = ctx.box
            pa, pb, pc0, pc1 = (a // ctx.pool, -(-b // ctx.pool), c0 // ctx.pool,
                                -(-c1 // ctx.pool))
            # idx: the box's windows, windows-major and channels inner, in the table plane
            local = idx.reshape(n_b, -1)
            dirs = direct[:, :, pa:pb, pc0:pc1].permute(0, 2, 3, 1).reshape(n_b, -1, c, 1)
            plane = (b - a) * (c1 - c0)
            table = table.reshape(-1, 9)
            sparse = torch.zeros(c, 9, dtype=w2.dtype, device=w2.device)
            # a clip or a few at a time (CPU): their tables and windows stay in cache
            step = _clips_per_chunk(n_b, local.shape[1] * 9 * w2.element_size(), w2.is_cuda)
            for i in range(0, n_b, step):
                rows_i = local[i : i + step]
                flat = rows_i + (torch.arange(i, i + rows_i.shape[0], device=w2.device)
                                 * plane)[:, None]
                vals = table.index_select(0, flat.reshape(-1)).view(-1, c, 9)
                sparse += (vals * dirs[i : i + step].reshape(-1, c, 1)).sum(dim=0)
            grad_w = (dense + sparse.double()).to(w2.dtype).reshape(c, 1, 3, 3)
        return None, grad_w, d_bnw, d_bias, None, None, None, None


def first_block_stats(x, conv_w, box=None):
    """Batch mean and (biased) variance of ``conv2d(x, conv_w, padding=1)`` per channel.

    ``box`` (a, b, c0, c1): ``x`` is zero outside it (:func:`live_box`); the patches
    centred elsewhere are zero and add nothing to the moments.
    """
    a, b, c0, c1 = (0, x.shape[2], 0, x.shape[3]) if box is None else box
    table = _patches(x[:, :, a:b, c0:c1])
    s_sum, gram = _patch_moments(table)
    w2 = conv_w.detach().reshape(conv_w.shape[0], 9).double()
    n = x.shape[0] * x.shape[2] * x.shape[3]
    mean = (w2 @ s_sum) / n
    var = ((w2 @ gram) * w2).sum(dim=1) / n - mean * mean
    return mean.to(x.dtype), var.clamp_min(0).to(x.dtype), (s_sum, gram, table)


def first_block(x, conv, bn):
    """``relu(maxpool(bn(conv(x))))`` for a training step on a one-channel input.

    ``conv`` is a bias-free 3x3 ``Conv2d(1, C, padding=1)`` and ``bn`` a
    :class:`BatchNormPoolReLU` in training mode; ``x`` needs no gradient. Updates the
    running statistics as ``BatchNorm2d`` would.
    """
    box = live_box(x, bn.pool)
    mean, var, moments = first_block_stats(x, conv.weight, box)
    n = x.shape[0] * x.shape[2] * x.shape[3]
    bn._update_running_stats(mean, var, n)
    return _FirstBlockFunction.apply(
        x, conv.weight, bn.weight, bn.bias, (mean, var, moments), bn.eps, bn.pool, box
    )


def first_block_eval(x, conv, bn):
    """``relu(maxpool(bn(conv(x))))`` with running statistics, for a one-channel input.

    Without gradients (inference): the convolution goes through :func:`conv_pool`'s path.
    """
    _, scale, sign = _bn_scale(bn.weight, bn.running_var, bn.eps, x.dtype)
    n, _, h, w = x.shape
    a, b, c0, c1 = box = live_box(x, bn.pool)
    shape = (n, sign.shape[0], -(-h // bn.pool), -(-w // bn.pool))
    zmax, _ = _conv_pool_box(_patches(x[:, :, a:b, c0:c1]),
                             conv.weight * sign.view(-1, 1, 1, 1), bn.pool, shape, box)
    return torch.relu(zmax * _col(scale.abs()) + _col(bn.bias - scale * bn.running_mean))


class FusedConvBlock(nn.Module):
    """A :class:`~sklearn_hallu.nn.ConvBlock` computed with :class:`BatchNormPoolReLU`.

    The same function and the same parameter names as ``ConvBlock`` (their state
    dicts load into each other). In training, a first block (one input channel,
    no grouped convolution, an input that needs no gradient) also takes its batch
    statistics and weight gradient from the input's 3x3 patch moments
    (:func:`first_block`), so its full-size output is only pooled, never stored.

    Parameters
    ----------
    in_channels : int
        Input channels.
    out_channels : int
        Output channels.
    pool : int or (int, int), default=4
        Size and stride of the max pooling. The fast first-block path needs the
        window as an int (square); a pair, even a square one, runs the
        convolution, then the fused batch norm, pooling and ReLU.
    """

    def __init__(self, in_channels, out_channels, pool=4):
        super().__init__()
        self.conv = nn.Conv2d(in_channels, out_channels, 3, padding=1, bias=False)
        self.bn = BatchNormPoolReLU(out_channels, pool=pool)

    @classmethod
    def from_block(cls, block):
        """A fused block with the parameters and buffers of ``block``.

        Parameters
        ----------
        block : ConvBlock
            An ungrouped block; its convolution is shared, its batch-norm state copied.

        Returns
        -------
        FusedConvBlock
            The same function as ``block``.
        """
        fused = cls(block.conv.in_channels, block.conv.out_channels, block.pool.kernel_size)
        fused = fused.to(dtype=block.conv.weight.dtype, device=block.conv.weight.device)
        fused.conv = block.conv
        fused.bn.load_state_dict(block.bn.state_dict())
        return fused

    def forward(self, x):
        # the batch norm's own mode decides, as in ConvBlock (a frozen bn.eval() included)
        if (x.shape[1] == 1 and not x.requires_grad and self.bn.track_running_stats
                and isinstance(self.bn.pool, int)):
            if self.bn.training:
                return first_block(x, self.conv, self.bn)
            if not torch.is_grad_enabled():
                return first_block_eval(x, self.conv, self.bn)
        return self.bn(self.conv(x))
