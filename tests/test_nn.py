"""Torch building blocks (sklearn_hallu.nn): prototypes, loss, standardised encoder."""

import numpy as np
import pytest
import torch

from sklearn_hallu.nn import (
    POOLINGS,
    Backbone,
    PrototypicalLoss,
    StandardizedEncoder,
    centered_l2,
    class_prototypes,
    embedding_stats,
    pool_feature_map,
    prototype_logits,
    prototypes,
)


def test_class_prototypes_are_class_means_in_any_order():
    g = torch.Generator().manual_seed(0)
    support = torch.randn(3, 4, 5, generator=g)  # 3 classes x 4 shots
    labels = torch.arange(3).repeat_interleave(4)
    perm = torch.randperm(12, generator=g)
    got = class_prototypes(support.reshape(12, 5)[perm], labels[perm], 3)
    torch.testing.assert_close(got, prototypes(support))
    uneven = class_prototypes(torch.tensor([[0.0], [2.0], [5.0]]), torch.tensor([0, 0, 1]), 2)
    torch.testing.assert_close(uneven, torch.tensor([[1.0], [5.0]]))


def test_logits_are_minus_squared_distances():
    q, p = torch.randn(6, 8), torch.randn(3, 8)
    expected = -((q[:, None] - p[None]) ** 2).sum(-1)
    torch.testing.assert_close(prototype_logits(q, p), expected, rtol=1e-4, atol=1e-4)


def test_loss_records_accuracy():
    emb = torch.cat([torch.full((3, 2), 10.0 * c) for c in range(4)])  # 4 classes x 3 clips
    crit = PrototypicalLoss(n_way=4, k_shot=1)
    assert np.isnan(crit.last_accuracy)
    loss = crit(emb)
    assert loss.ndim == 0 and loss.item() < 1e-3 and crit.last_accuracy == 1.0


def test_encoder_standardises_and_reads_nan_as_the_mean():
    torch.manual_seed(0)
    enc = StandardizedEncoder(n_views=2, channels=(4, 4, 4), mean=3.0, std=2.0).eval()
    enc.set_input_shape(16, 16)
    X = 3.0 + 2.0 * torch.randn(2, 2, 16, 16)
    masked = X.clone()
    masked[:, 1, :8] = float("nan")
    filled = X.clone()
    filled[:, 1, :8] = 3.0  # the mean: 0 after standardising
    with torch.no_grad():
        torch.testing.assert_close(enc(masked), enc(filled))
    assert {"mean", "std"} <= set(enc.state_dict())
    np.testing.assert_allclose([enc.mean.item(), enc.std.item()], [3.0, 2.0])


def test_centered_l2_gives_every_view_one_norm_and_ignores_a_common_offset():
    rng = np.random.default_rng(0)
    raw = rng.normal(size=(20, 6)).astype(np.float32) * np.array([1, 1, 1, 10, 10, 10], "f4")
    emb, slices = torch.from_numpy(raw), [slice(0, 3), slice(3, 6)]
    mean, scale = embedding_stats(emb, slices)
    centred = raw - raw.mean(0)
    expected_scale = np.mean([np.linalg.norm(centred[:, s], axis=1) for s in slices])
    np.testing.assert_allclose(mean.numpy(), raw.mean(0), rtol=1e-5, atol=1e-6)
    assert abs(scale - expected_scale) < 1e-4 * expected_scale
    out = centered_l2(emb, mean, slices, scale)
    for s in slices:  # the view 10x larger in raw units no longer outweighs the other
        np.testing.assert_allclose(out[:, s].norm(dim=1).numpy(), scale, rtol=1e-5)
        cos = (centred[:, s] / np.linalg.norm(centred[:, s], axis=1, keepdims=True))
        np.testing.assert_allclose(out[:, s].numpy(), scale * cos, rtol=1e-4, atol=1e-5)
    offset = torch.arange(6.0) * 100  # moves every clip and the mean alike
    np.testing.assert_allclose(centered_l2(emb + offset, mean + offset, slices, scale).numpy(),
                               out.numpy(), atol=1e-3)
    np.testing.assert_array_equal(emb.numpy(), raw)  # the input is left alone


def test_temperature_makes_the_episode_loss_a_scaled_cosine():
    import torch.nn.functional as F

    from sklearn_hallu.nn import prototypical_loss

    torch.manual_seed(0)
    emb = torch.randn(3 * 4, 6) * 5  # 3 classes, 2 supports + 2 queries each, 2 views of 3
    views = [slice(0, 3), slice(3, 6)]
    loss, _ = prototypical_loss(emb, 3, 2, views, temperature=10.0)
    unit = torch.cat([F.normalize(emb[:, s], dim=-1) for s in views], dim=-1)
    # the same as the raw loss on per-view unit embeddings scaled by sqrt(t / 2)
    expected, _ = prototypical_loss(unit * 5 ** 0.5, 3, 2, views)
    torch.testing.assert_close(loss, expected)
    # the size of the raw embeddings no longer matters
    torch.testing.assert_close(prototypical_loss(emb * 100, 3, 2, views, temperature=10.0)[0],
                               loss)
    assert not torch.allclose(prototypical_loss(emb, 3, 2, views)[0], loss)


def test_pool_feature_map_pools_over_time_only():
    z = torch.rand(3, 5, 2, 7, dtype=torch.float64)  # (batch, channels, mel cells, time cells)
    mean, top = z.mean(-1), z.amax(-1)
    torch.testing.assert_close(pool_feature_map(z, "time_mean"), mean)
    torch.testing.assert_close(pool_feature_map(z, "time_mean_max"), mean + top)
    stats = pool_feature_map(z, "time_mean_std")
    assert stats.shape == (3, 5, 4)  # mean cells, then deviation cells, per channel
    torch.testing.assert_close(stats[..., :2], mean)
    torch.testing.assert_close(stats[..., 2:], torch.sqrt(z.var(-1, unbiased=False) + 1e-5))
    assert pool_feature_map(z, "flatten") is z
    # the order of the time cells does not matter to any of them but flatten
    perm = z[..., torch.randperm(7)]
    for how in ("time_mean", "time_mean_max", "time_mean_std"):
        torch.testing.assert_close(pool_feature_map(perm, how), pool_feature_map(z, how))


def test_statistics_pooling_has_a_finite_gradient_on_a_constant_map():
    z = torch.ones(2, 3, 2, 4, requires_grad=True)  # no variation over time: var 0
    pool_feature_map(z, "time_mean_std").sum().backward()
    assert torch.isfinite(z.grad).all()


def test_unknown_pooling_is_named_with_the_choices():
    with pytest.raises(ValueError, match=r"pooling must be one of .*'time_mean_std'.*'avg'"):
        pool_feature_map(torch.zeros(1, 1, 1, 1), "avg")
    with pytest.raises(ValueError, match="got 'avg'"):
        Backbone(pooling="avg")


@pytest.mark.parametrize("pooling", POOLINGS)
def test_grouped_views_keep_their_own_cells_under_every_pooling(pooling):
    # two views as one grouped network: each view's part of the embedding must depend on
    # that view's input only, as with one backbone per view
    torch.manual_seed(0)
    net = Backbone(channels=(4, 4, 4), pooling=pooling, groups=2).eval()
    X = torch.randn(2, 2, 128, 160)  # last map: 2 mel x 3 time cells
    with torch.no_grad():
        a = net(X)
        for changed in (0, 1):
            Y = X.clone()
            Y[:, changed] = torch.randn(2, 128, 160)
            b = net(Y)
            half = a.shape[1] // 2
            same = slice(half, None) if changed == 0 else slice(0, half)
            moved = slice(0, half) if changed == 0 else slice(half, None)
            torch.testing.assert_close(a[:, same], b[:, same])
            assert not torch.allclose(a[:, moved], b[:, moved])
