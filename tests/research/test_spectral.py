"""research.spectral: the frequency shift and the band gains by hand, and training runs
whose episodes are those of the run without the lever."""

import io

import joblib
import numpy as np
import pytest
import torch

from research.ablation import build
from research.spectral import SpectralAugment, band_gains, filter_gain, frequency_shift
from research.variants import variant_config

from ..conftest import tiny_clf


def test_frequency_shift_moves_rows_and_repeats_the_edge():
    X = torch.arange(2 * 1 * 6 * 3, dtype=torch.float32).reshape(2, 1, 6, 3)
    before = X.clone()
    rng = np.random.RandomState(3)
    shifts = np.random.RandomState(3).randint(-2, 3, size=2)
    out = frequency_shift(X, 2, rng)
    assert torch.equal(X, before)
    for clip, s in enumerate(shifts):
        rows = np.clip(np.arange(6) - s, 0, 5)
        assert torch.equal(out[clip, 0], X[clip, 0, rows]), s
    # a clip of distinct rows: shifted up by 2, the lowest row fills rows 0-2
    up = frequency_shift(torch.arange(5.0).reshape(1, 5, 1), 2, _FixedDraw(2))
    assert up.flatten().tolist() == [0.0, 0.0, 0.0, 1.0, 2.0]
    down = frequency_shift(torch.arange(5.0).reshape(1, 5, 1), 2, _FixedDraw(-1))
    assert down.flatten().tolist() == [1.0, 2.0, 3.0, 4.0, 4.0]


class _FixedDraw:
    def __init__(self, value):
        self.value = value

    def randint(self, low, high, size):
        assert low <= self.value < high
        return np.full(size, self.value)


@pytest.mark.parametrize("seed", range(20))
def test_band_gains_are_piecewise_linear_within_the_range(seed):
    curve = band_gains(128, np.random.RandomState(seed), db=6.0)
    assert curve.shape == (128,) and np.all(np.abs(curve) <= 6.0)
    kinks = np.flatnonzero(np.abs(np.diff(curve, 2)) > 1e-9) + 1  # interior band edges
    assert len(kinks) <= 4  # at most 5 bands
    assert np.all(np.diff(np.concatenate([[0], kinks, [127]])) >= 6)  # bands of >= 6 rows
    with pytest.raises(ValueError, match="16 mel rows cannot hold"):
        band_gains(16, np.random.RandomState(seed), n_bands=(3, 3))


def test_filter_gain_adds_one_curve_per_clip_constant_over_time():
    X = torch.randn(3, 1, 32, 7)
    out = filter_gain(X, np.random.RandomState(0))
    added = out - X
    assert torch.allclose(added, added[..., :1].expand_as(added))  # the same in every frame
    assert not torch.allclose(added[0], added[1])  # each clip its own curve
    assert added.abs().max() <= 6.0 + 1e-5 and added.abs().max() > 0.5


@pytest.mark.parametrize("kind, value", [("shift", 2), ("gain", 6.0)])
def test_the_lever_changes_training_and_nothing_else(small_logmel, kind, value,
                                                     monkeypatch):
    X, y = small_logmel
    kw = dict(max_epochs=2, time_shift=(1, 4))
    plain = tiny_clf(**kw).fit(X, y)
    augmented = tiny_clf(**kw, callbacks=[("spec", SpectralAugment(kind, value))]).fit(X, y)
    losses = [[h["train_loss"] for h in m.history_] for m in (plain, augmented)]
    assert not np.allclose(losses[0], losses[1])
    assert np.isfinite(losses[1]).all()
    assert "train_step_single" not in augmented.net_.__dict__
    # the episode generator made the same draws as the plain run's
    a, b = plain.net_.episode_rng.get_state(), augmented.net_.episode_rng.get_state()
    assert np.array_equal(a[1], b[1]) and a[2:] == b[2:]
    joblib.dump(augmented, io.BytesIO())
    assert augmented.predict(X[:4]).shape == (4,)
    # with the augmentation made the identity (still drawing from its generator), the
    # run is the plain run: the same episodes and time shifts, so a pair differs by the
    # augmentation alone
    monkeypatch.setattr(SpectralAugment, "augment",
                        lambda self, Xi, rng: (rng.randint(5, size=len(Xi)), Xi)[1])
    same = tiny_clf(**kw, callbacks=[("spec", SpectralAugment(kind, value))]).fit(X, y)
    assert [h["train_loss"] for h in same.history_] == losses[0]


def test_variants_and_refusals(small_logmel):
    X, y = small_logmel
    assert variant_config("base_fshift4")[1]["fshift"] == 4
    assert variant_config("base_filtergain6")[1]["filter_gain"] == 6.0
    import argparse
    args = argparse.Namespace(epochs=1, episodes=2, lr_step=1, channels=8, device="cpu",
                              threads=1, verbose=0, out="unused")
    for name, kind in (("base_fshift4", "shift"), ("base_filtergain6", "gain")):
        (key, cb), = build("baseline", variant_config(name)[1], args, 0, [1]).callbacks
        assert isinstance(cb, SpectralAugment) and cb.kind == kind
    with pytest.raises(ValueError, match="kind must be 'shift' or 'gain', got 'pitch'"):
        SpectralAugment("pitch", 2)
    with pytest.raises(ValueError, match="value must be a positive number, got 0"):
        SpectralAugment("shift", 0)
    with pytest.raises(ValueError, match="a shift is a whole number of mel rows, got 2.5"):
        SpectralAugment("shift", 2.5)
    with pytest.raises(ValueError, match="one-view baseline without spec_augment"):
        tiny_clf(max_epochs=1, spec_augment={"freq": (1, 2)},
                 callbacks=[("spec", SpectralAugment("shift", 2))]).fit(X, y)
