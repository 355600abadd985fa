"""research.decorrelate: the correlation term by hand, and training runs that differ from
the plain run by the term alone."""

import argparse
import io

import joblib
import numpy as np
import pytest
import torch

import research.decorrelate as decorrelate
from research.ablation import build
from research.decorrelate import Decorrelation, spread_term
from research.variants import variant_config

from ..conftest import tiny_clf


def _term_by_eigenvalues(e):
    lam = np.linalg.eigvalsh(np.cov(np.asarray(e, dtype=np.float64).T))
    d = len(lam)
    cov = lam / lam.mean()
    return float(((cov - 1) ** 2).sum() / (d * (d - 1)))


def test_the_term_by_hand():
    rng = np.random.default_rng(0)
    # equal variance in every direction (orthogonal unit rows, both signs): 0
    basis = np.linalg.qr(rng.normal(size=(4, 4)))[0]
    equal = np.concatenate([np.eye(4), -np.eye(4)]) @ basis + 5.0
    assert float(spread_term(torch.as_tensor(equal))) == pytest.approx(0.0, abs=1e-9)
    # one direction: 1, whatever the offset and scale
    line = np.outer(rng.normal(size=20), basis[0]) * 7.0 + 3.0
    assert float(spread_term(torch.as_tensor(line))) == pytest.approx(1.0, abs=1e-9)
    # the distance of the trace-normalised covariance from the identity
    e = (rng.normal(size=(30, 5)) @ rng.normal(size=(5, 5))) + 10.0
    got = float(spread_term(torch.as_tensor(e)))
    assert got == pytest.approx(_term_by_eigenvalues(e), rel=1e-6)
    assert float(spread_term(torch.as_tensor(e * 100))) == pytest.approx(got, rel=1e-6)
    # a dead dimension raises it (no loophole by switching dimensions off)
    dead = np.concatenate([e, np.full((30, 1), 2.0)], axis=1)
    assert float(spread_term(torch.as_tensor(dead))) > got
    assert float(spread_term(torch.as_tensor(dead))) == pytest.approx(
        _term_by_eigenvalues(dead), rel=1e-6)
    # its least value for 50 clips in 128 dimensions
    floor = (128 / 49 - 1) / 127
    white = np.linalg.qr(rng.normal(size=(128, 49)))[0].T  # 49 orthonormal rows
    spread = np.concatenate([white, -white])[:50]
    assert float(spread_term(torch.as_tensor(spread))) >= floor - 1e-9
    assert float(spread_term(torch.zeros(4, 3))) == 1.0
    with pytest.raises(ValueError, match=r"got shape \(1, 3\)"):
        spread_term(torch.ones(1, 3))


def test_its_gradient_spreads_the_embedding():
    torch.manual_seed(0)
    x = torch.randn(64, 4) @ torch.randn(4, 4)
    w = torch.eye(4, requires_grad=True)
    opt = torch.optim.SGD([w], lr=0.5)
    first = float(spread_term(x @ w.detach()))
    for _ in range(200):
        opt.zero_grad()
        term = spread_term(x @ w)
        term.backward()
        opt.step()
    assert float(term.detach()) < 0.1 * first


def test_the_lever_adds_the_term_and_nothing_else(small_logmel, monkeypatch):
    X, y = small_logmel
    kw = dict(max_epochs=2, time_shift=(1, 4))
    plain = tiny_clf(**kw).fit(X, y)
    lever = tiny_clf(**kw, callbacks=[("decor", Decorrelation(1.0))]).fit(X, y)
    losses = [[h["train_loss"] for h in m.history_] for m in (plain, lever)]
    assert not np.allclose(losses[0], losses[1]) and np.isfinite(losses[1]).all()
    # the term's gradient reached the weights (not only the recorded loss)
    w0, w1 = (m.net_.module_.state_dict() for m in (plain, lever))
    assert any(not torch.equal(w0[k], w1[k]) for k in w0 if w0[k].is_floating_point())
    decor = [b["decor"] for h in lever.history_ for b in h["batches"]]
    assert len(decor) == sum(len(h["batches"]) for h in plain.history_)
    assert all(0.0 <= v <= 1.0 for v in decor)
    assert "train_step_single" not in lever.net_.__dict__
    a, b = plain.net_.episode_rng.get_state(), lever.net_.episode_rng.get_state()
    assert np.array_equal(a[1], b[1]) and a[2:] == b[2:]
    joblib.dump(lever, io.BytesIO())
    assert lever.predict(X[:4]).shape == (4,)
    # the weight reaches the gradient
    heavier = tiny_clf(**kw, callbacks=[("decor", Decorrelation(2.0))]).fit(X, y)
    assert [h["train_loss"] for h in heavier.history_] != losses[1]
    # the term sees the whole episode: n_way * (k_shot + n_query) clips
    seen = []
    monkeypatch.setattr(decorrelate, "spread_term",
                        lambda emb: (seen.append(emb.shape[0]), 0.0 * emb.sum())[1])
    same = tiny_clf(**kw, callbacks=[("decor", Decorrelation(1.0))]).fit(X, y)
    assert set(seen) == {4 * (2 + 2)}
    # with the term made zero (its graph kept), the run is the plain run loss for loss
    assert [h["train_loss"] for h in same.history_] == losses[0]


def test_variant_and_refusals(small_logmel):
    X, y = small_logmel
    assert variant_config("base_decor1")[1]["decor"] == 1.0
    args = argparse.Namespace(epochs=1, episodes=2, lr_step=1, channels=8, device="cpu",
                              threads=1, verbose=0, out="unused")
    (key, cb), = build("baseline", variant_config("base_decor1")[1], args, 0, [1]).callbacks
    assert isinstance(cb, Decorrelation) and cb.weight == 1.0
    with pytest.raises(ValueError, match="weight must be a positive number, got 0"):
        Decorrelation(0)
    with pytest.raises(ValueError, match="one-view baseline without spec_augment"):
        tiny_clf(max_epochs=1, spec_augment={"freq": (1, 2)},
                 callbacks=[("decor", Decorrelation(1.0))]).fit(X, y)
