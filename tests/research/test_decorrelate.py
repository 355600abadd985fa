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
from research.decorrelate import Decorrelation, offdiagonal_correlation
from research.variants import variant_config

from ..conftest import tiny_clf


def test_the_term_by_hand():
    a = torch.tensor([1.0, -1.0, 1.0, -1.0])
    b = torch.tensor([1.0, 1.0, -1.0, -1.0])
    assert float(offdiagonal_correlation(torch.stack([a, b], 1))) == pytest.approx(0.0)
    assert float(offdiagonal_correlation(torch.stack([a, 3 * a + 2], 1))) == pytest.approx(
        1.0, abs=1e-5)
    assert float(offdiagonal_correlation(torch.stack([a, -a], 1))) == pytest.approx(
        1.0, abs=1e-5)
    rng = np.random.default_rng(0)
    e = rng.normal(size=(30, 5)) @ rng.normal(size=(5, 5))
    r = np.corrcoef(e.T)
    want = (r[~np.eye(5, dtype=bool)] ** 2).mean()
    got = float(offdiagonal_correlation(torch.as_tensor(e)))
    assert got == pytest.approx(want, rel=1e-4)
    # a constant dimension counts as uncorrelated, and the term stays finite
    const = torch.stack([a, b, torch.ones(4)], 1)
    assert float(offdiagonal_correlation(const)) == pytest.approx(0.0, abs=1e-6)
    with pytest.raises(ValueError, match=r"got shape \(1, 3\)"):
        offdiagonal_correlation(torch.ones(1, 3))


def test_its_gradient_decorrelates():
    torch.manual_seed(0)
    x = torch.randn(64, 4) @ torch.randn(4, 4)
    w = torch.eye(4, requires_grad=True)
    opt = torch.optim.SGD([w], lr=0.5)
    first = float(offdiagonal_correlation(x @ w.detach()))
    for _ in range(200):
        opt.zero_grad()
        term = offdiagonal_correlation(x @ w)
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
    assert len(decor) > 0 and all(0.0 <= v <= 1.0 for v in decor)
    assert "train_step_single" not in lever.net_.__dict__
    a, b = plain.net_.episode_rng.get_state(), lever.net_.episode_rng.get_state()
    assert np.array_equal(a[1], b[1]) and a[2:] == b[2:]
    joblib.dump(lever, io.BytesIO())
    assert lever.predict(X[:4]).shape == (4,)
    # with the term made zero (its graph kept), the run is the plain run loss for loss
    monkeypatch.setattr(decorrelate, "offdiagonal_correlation", lambda emb: 0.0 * emb.sum())
    same = tiny_clf(**kw, callbacks=[("decor", Decorrelation(1.0))]).fit(X, y)
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
