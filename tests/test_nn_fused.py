"""The fused batch-norm/pool/ReLU block computes the eager block's function and gradients."""

import copy

import pytest
import torch
from torch import nn

from sklearn_hallu.nn import BatchNormPoolReLU, ConvBlock, FusedConvBlock


def _eager_and_fused(c_in, c_out, seed, dtype=torch.float64):
    torch.manual_seed(seed)
    eager = ConvBlock(c_in, c_out).to(dtype)
    with torch.no_grad():  # negative scales take the window minimum: test both signs
        eager.bn.weight.copy_(torch.randn(c_out))
        eager.bn.bias.copy_(torch.randn(c_out))
    fused = FusedConvBlock.from_block(copy.deepcopy(eager))
    return eager, fused


@pytest.mark.parametrize("c_in", [1, 3])
@pytest.mark.parametrize("shape", [(4, 21, 26), (3, 16, 20)])
@pytest.mark.parametrize("channels_last", [False, True])
def test_fused_block_same_outputs_gradients_and_running_stats(c_in, shape, channels_last):
    n, h, w = shape
    eager, fused = _eager_and_fused(c_in, 6, seed=h + c_in)
    x = torch.randn(n, c_in, h, w, dtype=torch.float64) * 2 + 0.5
    if channels_last:
        x = x.contiguous(memory_format=torch.channels_last)
        eager, fused = (m.to(memory_format=torch.channels_last) for m in (eager, fused))
    out_e, out_f = eager(x), fused(x)
    g = torch.randn_like(out_e)
    (out_e * g).sum().backward()
    (out_f * g).sum().backward()
    torch.testing.assert_close(out_f, out_e, rtol=1e-12, atol=1e-12)
    for name in ("conv.weight", "bn.weight", "bn.bias"):
        a = dict(fused.named_parameters())[name].grad
        b = dict(eager.named_parameters())[name].grad
        torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-10, msg=name)
    for name in ("running_mean", "running_var", "num_batches_tracked"):
        torch.testing.assert_close(getattr(fused.bn, name), getattr(eager.bn, name))
    eager.eval(), fused.eval()
    with torch.no_grad():
        torch.testing.assert_close(fused(x), eager(x), rtol=1e-12, atol=1e-12)


def test_fused_block_input_gradient_matches():
    eager, fused = _eager_and_fused(2, 5, seed=0)
    x1 = torch.randn(3, 2, 12, 17, dtype=torch.float64, requires_grad=True)
    x2 = x1.detach().clone().requires_grad_()
    eager(x1).square().sum().backward()
    fused(x2).square().sum().backward()
    torch.testing.assert_close(x2.grad, x1.grad, rtol=1e-10, atol=1e-10)


def test_batchnorm_pool_relu_state_dict_is_a_batchnorm2d():
    keys = set(BatchNormPoolReLU(4).state_dict())
    assert keys == set(nn.BatchNorm2d(4).state_dict())


@pytest.mark.parametrize("n_views", [1, 3])
@pytest.mark.parametrize("chunk_bytes", [1, 1 << 22])
def test_default_encoder_is_the_plain_encoder_function(n_views, chunk_bytes, monkeypatch):
    # The library's encoder uses the fused blocks by default; its state dict loads into
    # the plain ConvBlock encoder and both compute the same embeddings and gradients,
    # in training (batch statistics, the first block's patch moments) and in eval.
    # chunk_bytes=1: the first block works one clip at a time; else all 6 clips at once.
    from sklearn_hallu.nn import MultiViewEncoder, _fused

    monkeypatch.setattr(_fused, "_CHUNK_BYTES", chunk_bytes)

    torch.manual_seed(0)
    fast = MultiViewEncoder(n_views, (4, 5, 6)).set_input_shape(33, 40).double()
    plain = MultiViewEncoder(n_views, (4, 5, 6), fused_blocks=False).set_input_shape(33, 40)
    plain = plain.double()
    assert any(isinstance(m, FusedConvBlock) for m in fast.modules())
    assert not any(isinstance(m, FusedConvBlock) for m in plain.modules())
    plain.load_state_dict(fast.state_dict())
    x = torch.randn(6, n_views, 33, 40, dtype=torch.float64)
    if n_views == 3:
        x[:, 1, 20:] = 0  # band views: masked rows at the training mean
        x[:, 2, :20] = 0
        x[:, 0, :, :17] = 0  # and a time-concept-like view: zero columns
    for mode in ("train", "eval"):
        getattr(fast, mode)(), getattr(plain, mode)()
        out_f, out_p = fast(x), plain(x)
        torch.testing.assert_close(out_f, out_p, rtol=1e-10, atol=1e-10)
        if mode == "eval":  # inference without gradients: the first block's own path
            with torch.no_grad():
                torch.testing.assert_close(fast(x), out_p, rtol=1e-10, atol=1e-10)
        if mode == "train":
            g = torch.randn_like(out_p)
            (out_f * g).sum().backward()
            (out_p * g).sum().backward()
            grads_p = dict(plain.named_parameters())
            for name, p in fast.named_parameters():
                torch.testing.assert_close(p.grad, grads_p[name].grad, rtol=1e-8, atol=1e-10,
                                           msg=name)
    for name, buf in fast.state_dict().items():
        torch.testing.assert_close(buf, plain.state_dict()[name], msg=name)


def _assert_conv_pool_is_pool_of_conv(x, w):
    """conv_pool's maxima and indices equal max_pool2d(conv2d(x, w)) computed in full."""
    from torch.nn import functional as F

    from sklearn_hallu.nn._fused import conv_pool

    ref_max, ref_idx = F.max_pool2d(F.conv2d(x, w, padding=1), 4, 4, ceil_mode=True,
                                    return_indices=True)
    got_max, got_idx = conv_pool(x, w, 4)
    torch.testing.assert_close(got_max, ref_max, rtol=0, atol=1e-13)
    assert torch.equal(got_idx, ref_idx)


@pytest.mark.parametrize("h", [33, 40])
@pytest.mark.parametrize("band", [(0, None), (10, 20), (0, 13), (17, None), (5, 6), (0, 0)])
@pytest.mark.parametrize("axis", [2, 3])
@pytest.mark.parametrize("chunk_bytes", [1, 1 << 22])
def test_conv_pool_skips_zero_cells_exactly(h, band, axis, chunk_bytes, monkeypatch):
    # conv_pool computes only the box where the convolution of a band view (zero rows,
    # axis 2) or a time-concept view (zero columns, axis 3) can be nonzero, a few clips
    # at a time: maxima and indices must equal the full computation
    from sklearn_hallu.nn import _fused
    from sklearn_hallu.nn._fused import live_box

    monkeypatch.setattr(_fused, "_CHUNK_BYTES", chunk_bytes)  # 1: one clip at a time
    torch.manual_seed(h)
    x = torch.randn(7, 1, h, h + 5, dtype=torch.float64)
    r0, r1 = band
    n = x.shape[axis]
    x.narrow(axis, 0, r0).zero_()
    if r1 is not None:
        x.narrow(axis, r1, n - r1).zero_()
    _assert_conv_pool_is_pool_of_conv(x, torch.randn(6, 1, 3, 3, dtype=torch.float64))
    box = live_box(x, 4)
    lo, hi = box[:2] if axis == 2 else box[2:]
    assert lo % 4 == 0 and (hi % 4 == 0 or hi == n)
    assert (box[2:] if axis == 2 else box[:2]) == (0, x.shape[5 - axis])
    if band == (10, 20):
        assert (lo, hi) == (8, 24)  # cells 9..20 can be nonzero, on the pooling grid
    if band in ((0, None), (0, 0)):
        assert (lo, hi) == (0, n)


def test_conv_pool_box_of_rows_and_columns():
    from sklearn_hallu.nn._fused import live_box

    torch.manual_seed(1)
    x = torch.zeros(3, 1, 30, 41, dtype=torch.float64)
    x[:, :, 9:17, 22:35] = torch.randn(3, 1, 8, 13, dtype=torch.float64)
    assert live_box(x, 4) == (8, 20, 20, 36)
    _assert_conv_pool_is_pool_of_conv(x, torch.randn(5, 1, 3, 3, dtype=torch.float64))


def test_live_box_counts_nan_as_nonzero():
    from sklearn_hallu.nn._fused import live_box

    x = torch.zeros(2, 1, 16, 8)
    x[1, 0, 13, 3] = float("nan")
    assert live_box(x, 4) == (12, 16, 0, 8)


def test_first_block_without_gradients_matches_eager_in_eval():
    # inference (no_grad, eval) of a one-channel block takes conv_pool's path
    eager, fused = _eager_and_fused(1, 6, seed=3)
    x = torch.randn(5, 1, 24, 30, dtype=torch.float64)
    x[:, :, 14:] = 0
    eager.train(), fused.train()
    eager(x), fused(x)  # one step of running statistics each
    eager.eval(), fused.eval()
    with torch.no_grad():
        torch.testing.assert_close(fused(x), eager(x), rtol=1e-12, atol=1e-12)


def test_frozen_batch_norm_in_a_training_block_uses_running_statistics():
    # "freeze BN" code sets bn.eval() inside a module in training mode: the first block
    # must then use the running statistics, as ConvBlock does
    eager, fused = _eager_and_fused(1, 6, seed=5)
    x = torch.randn(4, 1, 20, 24, dtype=torch.float64)
    eager.train(), fused.train()
    eager(x), fused(x)  # running statistics move once in both
    eager.bn.eval(), fused.bn.eval()
    out_e, out_f = eager(x), fused(x)
    torch.testing.assert_close(out_f, out_e, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(fused.bn.running_mean, eager.bn.running_mean)
    g = torch.randn_like(out_e)
    (out_e * g).sum().backward(), (out_f * g).sum().backward()
    torch.testing.assert_close(fused.conv.weight.grad, eager.conv.weight.grad, rtol=1e-10,
                               atol=1e-10)


def test_default_encoder_matches_in_float32_with_negative_scales():
    # float32 (the library's dtype) and batch-norm weights of both signs, in training
    from sklearn_hallu.nn import MultiViewEncoder

    torch.manual_seed(2)
    fast = MultiViewEncoder(3, (4, 5, 6)).set_input_shape(33, 40)
    plain = MultiViewEncoder(3, (4, 5, 6), fused_blocks=False).set_input_shape(33, 40)
    with torch.no_grad():
        for m in fast.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.weight.copy_(torch.randn(m.num_features))
    plain.load_state_dict(fast.state_dict())
    x = torch.randn(7, 3, 33, 40)
    x[:, 1, 20:] = 0
    x[:, 2, :, :16] = 0
    out_f, out_p = fast(x), plain(x)
    torch.testing.assert_close(out_f, out_p, rtol=1e-4, atol=1e-5)
    g = torch.randn_like(out_p)
    (out_f * g).sum().backward(), (out_p * g).sum().backward()
    grads_p = dict(plain.named_parameters())
    for name, p in fast.named_parameters():
        torch.testing.assert_close(p.grad, grads_p[name].grad, rtol=1e-3, atol=1e-4, msg=name)


@pytest.mark.parametrize("time_pool, freq_pool", [((4, 4, 1), None), ((4, 2, 2), None),
                                                  ((2, 4, 1), None), ((4, 4, 1), (4, 4, 2)),
                                                  (None, (2, 4, 4))])
def test_time_pool_fused_backbone_is_the_plain_one(time_pool, freq_pool):
    """Rectangular windows take the general fused path: same outputs and gradients."""
    from sklearn_hallu.nn import Backbone

    torch.manual_seed(0)
    fused = Backbone(channels=(4, 4, 4), time_pool=time_pool, freq_pool=freq_pool).double()
    plain = Backbone(channels=(4, 4, 4), time_pool=time_pool, freq_pool=freq_pool,
                     fused=False).double()
    plain.load_state_dict(fused.state_dict())
    x = torch.randn(3, 1, 64, 96, dtype=torch.float64)
    for net in (fused, plain):
        net(x).pow(2).sum().backward()
    torch.testing.assert_close(fused(x), plain(x))
    for a, b in zip(fused.parameters(), plain.parameters()):
        torch.testing.assert_close(a.grad, b.grad)
    with torch.no_grad():
        torch.testing.assert_close(fused.eval()(x), plain.eval()(x))


def test_time_pool_sets_the_time_cells_and_keeps_the_weights():
    from sklearn_hallu.nn import Backbone, block_pools

    assert block_pools(3) == [4, 4, 4] and block_pools(3, (4, 4, 1)) == [4, 4, (4, 1)]
    square, unpooled = Backbone(), Backbone(time_pool=(4, 4, 1))
    missing = unpooled.load_state_dict(square.state_dict())  # same parameter shapes
    assert not missing.missing_keys and not missing.unexpected_keys
    x = torch.randn(2, 1, 128, 160)
    with torch.no_grad():
        assert square.eval().blocks(x).shape[-2:] == (2, 3)  # 160 -> 40 -> 10 -> 3 cells
        z = unpooled.eval().blocks(x)
        assert z.shape[-2:] == (2, 10)
        # the embedding is the mean of those 10 cells (the same size as with 3)
        torch.testing.assert_close(unpooled(x), z.mean(-1).flatten(1))
        assert square(x).shape == unpooled(x).shape
        # the last block's time max is gone: its cells are block 3 pooled along mel only
        inner = unpooled.blocks[1](unpooled.blocks[0](x))
        bn = unpooled.blocks[2].bn
        normed = torch.nn.functional.batch_norm(
            unpooled.blocks[2].conv(inner), bn.running_mean, bn.running_var, bn.weight,
            bn.bias, eps=bn.eps)
        want = torch.relu(torch.nn.functional.max_pool2d(normed, (4, 1), ceil_mode=True))
        torch.testing.assert_close(z, want, rtol=1e-4, atol=1e-5)
    with pytest.raises(ValueError, match=r"time_pool must give .* \(3 here\); got \(4, 4\)"):
        Backbone(time_pool=(4, 4))
    with pytest.raises(ValueError, match=r"got \(4, 1.5, 1\)"):
        block_pools(3, (4, 1.5, 1))


def test_freq_pool_keeps_more_mel_cells_and_the_weights():
    from sklearn_hallu.nn import Backbone, block_pools

    assert block_pools(3, (4, 4, 1), (4, 4, 2)) == [4, 4, (2, 1)]
    assert block_pools(3, None, (4, 4, 2)) == [4, 4, (2, 4)]
    assert block_pools(3, (2, 2, 2), (2, 2, 2)) == [2, 2, 2]  # square: the fast path
    coarse = Backbone(time_pool=(4, 4, 1))
    fine = Backbone(time_pool=(4, 4, 1), freq_pool=(4, 4, 2))
    missing = fine.load_state_dict(coarse.state_dict())  # same parameter shapes
    assert not missing.missing_keys and not missing.unexpected_keys
    x = torch.randn(2, 1, 128, 160)
    with torch.no_grad():
        z = fine.eval().blocks(x)
        assert z.shape[-2:] == (4, 10)  # 128 -> 32 -> 8 -> 4 mel cells
        assert fine(x).shape == (2, 64 * 4) and coarse.eval()(x).shape == (2, 64 * 2)
        # the coarse map is the fine one max-pooled over pairs of mel cells (the ReLU and
        # the max commute), so the two differ only by the last pooling
        torch.testing.assert_close(coarse.blocks(x), z.reshape(2, 64, 2, 2, 10).amax(3))
        assert fine.output_dim(128, 160) == 256
    with pytest.raises(ValueError, match=r"freq_pool must give .* \(3 here\); got 4\."):
        Backbone(freq_pool=4)
    with pytest.raises(ValueError, match=r"freq_pool .* got \(4, 0, 2\)"):
        block_pools(3, None, (4, 0, 2))
