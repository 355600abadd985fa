"""The embedding-rank measures and the whitened norm of the transfer studies."""

import numpy as np
import pytest

from research.transfer.layers import NORMS, summarise_norms, whitened_l2, whitener
from research.transfer.rank import effective_rank, participation_ratio, top_share


def test_effective_rank_counts_equal_directions():
    rng = np.random.default_rng(0)
    basis = np.linalg.qr(rng.normal(size=(16, 16)))[0]
    # 4 orthogonal directions with equal singular values: rows +-e_i, each once
    e = np.concatenate([np.eye(16)[:4], -np.eye(16)[:4]]) @ basis + 3.0  # any offset
    assert effective_rank(e) == pytest.approx(4.0)
    assert participation_ratio(e) == pytest.approx(4.0)
    line = np.outer(rng.normal(size=50), basis[0]) + rng.normal(size=16)
    assert effective_rank(line) == pytest.approx(1.0, abs=1e-6)
    assert participation_ratio(line) == pytest.approx(1.0, abs=1e-6)


def test_rank_of_an_unequal_spectrum():
    # singular values 4, 1, ..., 1 (8 directions) about a far-off mean
    basis = np.linalg.qr(np.random.default_rng(1).normal(size=(8, 8)))[0]
    scales = np.array([4, 1, 1, 1, 1, 1, 1, 1.0])
    e = np.concatenate([np.diag(scales), -np.diag(scales)]) @ basis / np.sqrt(2) + 50.0
    p = scales / scales.sum()
    assert effective_rank(e) == pytest.approx(np.exp(-(p * np.log(p)).sum()))
    assert effective_rank(e) == pytest.approx(6.6445, abs=1e-4)  # not on s ** 2: 3.41
    assert participation_ratio(e) == pytest.approx(23 ** 2 / (256 + 7), rel=1e-9)  # 2.011
    with pytest.raises(ValueError, match="got shape"):
        effective_rank(np.ones(5))


def test_top_share_is_the_variance_in_the_base_subspace():
    rng = np.random.default_rng(2)
    base = rng.normal(size=(500, 6)) * np.array([10, 5, 0.1, 0.1, 0.1, 0.1])
    inside = rng.normal(size=(300, 6)) * np.array([1, 1, 0, 0, 0, 0]) + 20.0
    outside = rng.normal(size=(300, 6)) * np.array([0, 0, 1, 1, 0, 0]) - 20.0
    assert top_share(inside, base, 2) == pytest.approx(1.0, abs=1e-3)
    assert top_share(outside, base, 2) == pytest.approx(0.0, abs=1e-3)


def test_whitener_makes_the_base_covariance_near_identity():
    rng = np.random.default_rng(3)
    rot = np.linalg.qr(rng.normal(size=(5, 5)))[0]
    base = (rng.normal(size=(20000, 5)) * np.array([3, 2, 1.5, 1, 0.5])) @ rot + 7.0
    mean, w = whitener(base)
    z = (base - mean) @ w
    np.testing.assert_allclose(np.cov(z.T), np.eye(5), atol=0.05)
    np.testing.assert_allclose(mean, base.mean(axis=0))
    np.testing.assert_allclose(z.mean(axis=0), 0.0, atol=1e-9)
    out = whitened_l2(_blocks(base[:10]), _blocks(base))
    np.testing.assert_allclose(np.linalg.norm(out["block3"], axis=1), 1.0)
    assert out["all"].shape == (10, 15)
    # the base clips' statistics, not the scored clips': those few clips are not whitened
    # by their own spread, and the batch norm of the layers study does that instead
    few = base[:10] * np.array([1, 1, 1, 1, 50.0])
    by_base = whitened_l2(_blocks(few), _blocks(base))["block3"]
    by_self = NORMS["batch_whitened_l2"](_blocks(few), _blocks(base))["block3"]
    assert not np.allclose(by_base, by_self)
    np.testing.assert_allclose(NORMS["whitened_l2"](_blocks(few), _blocks(base))["block3"],
                               by_base)


def test_the_shrinkage_is_ledoit_wolfs():
    from sklearn.covariance import LedoitWolf

    rng = np.random.default_rng(5)
    e = rng.normal(size=(12, 10)) * np.linspace(0.1, 3, 10)  # few clips: strong shrinkage
    _, w = whitener(e)
    cov = LedoitWolf().fit(e).covariance_
    np.testing.assert_allclose(w @ cov @ w, np.eye(10), atol=1e-8)
    assert not np.allclose(w @ np.cov(e.T, bias=True) @ w, np.eye(10), atol=1e-2)


def _blocks(e):
    return {"block1": e, "block2": e, "block3": e}


def test_whitening_undoes_a_stretch_that_centred_l2_keeps():
    # classes apart along a weak direction, a strong nuisance along another: whitening
    # by the base clips' spread weighs the weak direction back up
    rng = np.random.default_rng(4)
    base = rng.normal(size=(4000, 2)) * np.array([100.0, 1.0])
    a = np.array([[0.0, 2.0]]) + rng.normal(size=(50, 2)) * [100.0, 0.3]
    b = np.array([[0.0, -2.0]]) + rng.normal(size=(50, 2)) * [100.0, 0.3]
    w = whitened_l2(_blocks(np.concatenate([a, b])), _blocks(base))["block3"]
    assert abs(w[:50, 1].mean() - w[50:, 1].mean()) > 0.5
    # without the whitening the nuisance dominates every unit vector
    c = np.concatenate([a, b]) - base.mean(axis=0)
    c /= np.linalg.norm(c, axis=1, keepdims=True)
    assert abs(c[:50, 1].mean() - c[50:, 1].mean()) < 0.2


def test_summarise_norms_pairs_the_same_network_and_episodes():
    clips = 40
    res = {"v": {}}
    value = {"centred_l2": 0.5, "whitened_l2": 0.6}
    for norm in value:
        for tta, bump in (("", 0.0), ("+tta8", 0.2)):
            for split, off in (("val", 0.0), ("spoken_words", -0.3)):
                res["v"][(split, norm + tta, "block3", "5w1s")] = {
                    s: {"trained": np.full(clips, value[norm] + bump + off + 0.01 * s),
                        "untrained": np.full(clips, 0.3 + off - 0.02 * s)}
                    for s in (0, 1, 2)}
    # the untrained twin: whitening changes nothing on one split only
    for s in (0, 1, 2):
        res["v"][("val", "whitened_l2", "block3", "5w1s")][s]["untrained"] = np.full(
            clips, 0.3 + 0.05 - 0.02 * s)
    rows = summarise_norms(res, "centred_l2")
    assert len(rows) == 8  # 2 nets x 2 tta labels x 2 splits, the reference norm left out
    by = {(r["variant"], r["split"], r["norm"]): r for r in rows}
    for split in ("val", "spoken_words"):
        for tta in ("", "+tta8"):
            r = by[("v trained vs centred_l2", split, "whitened_l2" + tta)]
            assert r["gain"] == pytest.approx(10.0)
            assert r["per_seed"] == pytest.approx([10.0, 10.0, 10.0])
    twin = by[("v untrained vs centred_l2", "val", "whitened_l2")]
    assert twin["gain"] == pytest.approx(5.0)
    assert by[("v untrained vs centred_l2", "spoken_words", "whitened_l2")]["gain"] == (
        pytest.approx(0.0))
    assert by[("v trained vs centred_l2", "val", "whitened_l2+tta8")]["untrained"] == (
        pytest.approx(100 * (0.5 + 0.2 + 0.01)))


def test_the_librarys_batch_whitening_is_the_studys():
    import torch

    from sklearn_hallu.nn import whitened_l2 as library_whitened_l2
    from sklearn_hallu.nn import whitening_stats

    rng = np.random.default_rng(6)
    e = rng.normal(size=(60, 8)) @ rng.normal(size=(8, 8)) + 2.0
    study = NORMS["batch_whitened_l2"](_blocks(e), _blocks(e[:5]))["block3"]
    mean, w = whitening_stats(torch.as_tensor(e), [slice(0, 8)])
    lib = library_whitened_l2(torch.as_tensor(e), mean, w, [slice(0, 8)]).numpy()
    np.testing.assert_allclose(lib, study, rtol=1e-8, atol=1e-10)
