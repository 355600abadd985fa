"""The embedding-rank measures and the whitened norm of the transfer studies."""

import numpy as np
import pytest

from research.transfer.layers import summarise_norms, whitened_l2, whitener
from research.transfer.rank import effective_rank, participation_ratio, top_share


def test_effective_rank_counts_equal_directions():
    rng = np.random.default_rng(0)
    basis = np.linalg.qr(rng.normal(size=(16, 16)))[0]
    # 4 orthogonal directions with equal singular values: rows +-e_i, each once
    e = np.concatenate([np.eye(16)[:4], -np.eye(16)[:4]]) @ basis
    assert effective_rank(e) == pytest.approx(4.0)
    assert participation_ratio(e) == pytest.approx(4.0)
    line = np.outer(rng.normal(size=50), basis[0])
    assert effective_rank(line) == pytest.approx(1.0, abs=1e-6)
    assert participation_ratio(line) == pytest.approx(1.0, abs=1e-6)


def test_rank_of_unequal_spectrum_lies_between():
    rng = np.random.default_rng(1)
    e = rng.normal(size=(4000, 8)) * np.array([4, 1, 1, 1, 1, 1, 1, 1.0])
    assert 1 < participation_ratio(e) < effective_rank(e) < 8
    with pytest.raises(ValueError, match="got shape"):
        effective_rank(np.ones(5))


def test_top_share_is_the_variance_in_the_base_subspace():
    rng = np.random.default_rng(2)
    base = rng.normal(size=(500, 6)) * np.array([10, 5, 0.1, 0.1, 0.1, 0.1])
    inside = rng.normal(size=(300, 6)) * np.array([1, 1, 0, 0, 0, 0])
    outside = rng.normal(size=(300, 6)) * np.array([0, 0, 1, 1, 0, 0])
    assert top_share(inside, base, 2) == pytest.approx(1.0, abs=1e-3)
    assert top_share(outside, base, 2) == pytest.approx(0.0, abs=1e-3)


def test_whitener_makes_the_base_covariance_near_identity():
    rng = np.random.default_rng(3)
    rot = np.linalg.qr(rng.normal(size=(5, 5)))[0]
    base = (rng.normal(size=(20000, 5)) * np.array([3, 2, 1.5, 1, 0.5])) @ rot + 7.0
    mean, w = whitener(base)
    z = (base - mean) @ w
    np.testing.assert_allclose(np.cov(z.T), np.eye(5), atol=0.05)
    out = whitened_l2(_blocks(base[:10]), _blocks(base))
    np.testing.assert_allclose(np.linalg.norm(out["block3"], axis=1), 1.0)
    assert out["all"].shape == (10, 15)


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
    for norm, shift in (("centred_l2", 0.0), ("whitened_l2", 0.25)):
        for tta in ("", "+tta8"):
            res["v"][("val", norm + tta, "block3", "5w1s")] = {
                s: {"trained": np.full(clips, 0.5 + shift), "untrained": np.full(clips, 0.4)}
                for s in (0, 1)}
    rows = summarise_norms(res, "centred_l2")
    assert len(rows) == 4  # two nets x two tta labels, the reference norm left out
    by = {(r["variant"], r["norm"]): r for r in rows}
    assert by[("v trained vs centred_l2", "whitened_l2+tta8")]["gain"] == pytest.approx(25.0)
    assert by[("v untrained vs centred_l2", "whitened_l2")]["gain"] == pytest.approx(0.0)
    assert by[("v trained vs centred_l2", "whitened_l2")]["untrained"] == pytest.approx(50.0)
