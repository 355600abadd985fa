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
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["BatchNormPoolReLU", "FusedConvBlock", "first_block"]


def _col(v):
    return v.view(1, -1, 1, 1)


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
        invstd = torch.rsqrt(var + eps)
        scale = weight * invstd
        sign = torch.where(scale < 0, -1.0, 1.0).to(y.dtype)
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
    pool : int, default=4
        Size and stride of the square pooling window.
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
            var, mean = torch.var_mean(y.detach(), dim=(0, 2, 3), unbiased=False)
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


def _patches(x):
    """The nine shifted copies of zero-padded ``x`` (B, 1, H, W): shape (9, B * H * W)."""
    h, w = x.shape[2], x.shape[3]
    xp = F.pad(x[:, 0], (1, 1, 1, 1))
    return torch.stack([xp[:, r : r + h, c : c + w] for r in range(3) for c in range(3)])


def _patch_moments(x):
    """Sum ``S`` (9,) and Gram ``G`` (9, 9) of the zero-padded 3x3 patches of ``x`` (float64)."""
    p = _patches(x).reshape(9, -1).double()
    return p.sum(dim=1), p @ p.T


class _FirstBlockFunction(torch.autograd.Function):
    """relu(maxpool(bn(conv3x3(x)))) for a one-channel input that needs no gradient.

    The convolution is linear in the 3x3 patches of ``x``, so the batch statistics of
    its output and the weight gradient's dense part follow from the patch moments
    ``S`` and ``G`` (9 and 81 numbers); only the window maxima need the full-size
    output, which is freed at once.
    """

    @staticmethod
    def forward(ctx, x, conv_w, bn_w, bn_b, stats, eps, pool):
        c = conv_w.shape[0]
        w2 = conv_w.reshape(c, 9)
        mean, var, moments = stats
        invstd = torch.rsqrt(var + eps)
        scale = bn_w * invstd
        sign = torch.where(scale < 0, -1.0, 1.0).to(x.dtype)
        # max of (sign * y) per window, from a convolution with sign-flipped filters
        y = F.conv2d(x, conv_w * sign.view(-1, 1, 1, 1), padding=1)
        zmax, idx = F.max_pool2d(y, pool, pool, ceil_mode=True, return_indices=True)
        del y
        pre = zmax * _col(scale.abs()) + _col(bn_b - scale * mean)
        out = torch.relu(pre)
        ctx.save_for_backward(x, w2, bn_w, mean, invstd, sign, zmax, idx, out)
        ctx.moments = moments
        return out

    @staticmethod
    def backward(ctx, grad_out):
        x, w2, bn_w, mean, invstd, sign, zmax, idx, out = ctx.saved_tensors
        g = grad_out * (out > 0)
        xhat = (zmax * _col(sign) - _col(mean)) * _col(invstd)
        d_bias = g.sum(dim=(0, 2, 3))
        d_bnw = (g * xhat).sum(dim=(0, 2, 3))
        direct = g * _col(bn_w * invstd)  # d loss / d y at each window's selected cell
        grad_w = None
        if ctx.needs_input_grad[1]:
            s_sum, gram = ctx.moments
            n_b, c, h, w = x.shape[0], w2.shape[0], x.shape[2], x.shape[3]
            n = n_b * h * w
            d_mean = -bn_w * invstd * d_bias
            d_var = -0.5 * bn_w * invstd * invstd * d_bnw
            beta = (2.0 * d_var / n).double()
            alpha = (d_mean / n).double() - beta * mean.double()
            # dense part: sum_m (alpha + beta * y[m]) * patch[m]
            dense = alpha[:, None] * s_sum[None, :] + beta[:, None] * (w2.double() @ gram)
            # sparse part: each selected cell's gradient times its own patch
            xpad = F.pad(x, (1, 1, 1, 1)).reshape(n_b, -1)
            # plane index r * w + c -> padded index r * (w + 2) + c
            base = torch.addcmul(idx, torch.div(idx, w, rounding_mode="floor"),
                                 torch.tensor(2, dtype=idx.dtype)).reshape(n_b, -1)
            dflat = direct.reshape(n_b, c, -1)
            sparse = torch.empty(c, 9, dtype=torch.float64, device=x.device)
            for k in range(9):
                off = (k // 3) * (w + 2) + (k % 3)
                vals = torch.gather(xpad, 1, base + off).reshape(n_b, c, -1)
                sparse[:, k] = (vals * dflat).sum(dim=(0, 2)).double()
            grad_w = (dense + sparse).to(w2.dtype).reshape(c, 1, 3, 3)
        return None, grad_w, d_bnw, d_bias, None, None, None


def first_block_stats(x, conv_w):
    """Batch mean and (biased) variance of ``conv2d(x, conv_w, padding=1)`` per channel."""
    s_sum, gram = _patch_moments(x)
    w2 = conv_w.detach().reshape(conv_w.shape[0], 9).double()
    n = x.shape[0] * x.shape[2] * x.shape[3]
    mean = (w2 @ s_sum) / n
    var = ((w2 @ gram) * w2).sum(dim=1) / n - mean * mean
    return mean.to(x.dtype), var.clamp_min(0).to(x.dtype), (s_sum, gram)


def first_block(x, conv, bn):
    """``relu(maxpool(bn(conv(x))))`` for a training step on a one-channel input.

    ``conv`` is a bias-free 3x3 ``Conv2d(1, C, padding=1)`` and ``bn`` a
    :class:`BatchNormPoolReLU` in training mode; ``x`` needs no gradient. Updates the
    running statistics as ``BatchNorm2d`` would.
    """
    mean, var, moments = first_block_stats(x, conv.weight)
    n = x.shape[0] * x.shape[2] * x.shape[3]
    bn._update_running_stats(mean, var, n)
    return _FirstBlockFunction.apply(
        x, conv.weight, bn.weight, bn.bias, (mean, var, moments), bn.eps, bn.pool
    )


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
    pool : int, default=4
        Size and stride of the max pooling.
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
        if (self.training and x.shape[1] == 1 and not x.requires_grad
                and self.bn.track_running_stats):
            return first_block(x, self.conv, self.bn)
        return self.bn(self.conv(x))
