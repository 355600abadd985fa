"""research.supcon: the two-view supervised contrastive lever trains and pickles."""

import io
import math

import joblib
import numpy as np
import pytest
import torch

from research.supcon import TwoViewSupCon, supcon_loss
from research.variants import variant_config

from ..conftest import tiny_clf


def test_supcon_loss_by_hand():
    # two classes of two unit rows: each anchor's one positive is its class mate
    z = torch.tensor([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0], [0.0, 1.0]])
    labels = torch.tensor([0, 0, 1, 1])
    t = 0.5
    # anchor 0: others at similarity 1/t (its mate) and 0 (twice)
    want = -(1 / t - math.log(math.exp(1 / t) + 2))
    assert supcon_loss(z, labels, t).item() == pytest.approx(want, rel=1e-6)
    # a lone class has no positive: its anchor is left out, not a NaN
    lone = supcon_loss(z[:3], labels[:3], t)
    assert torch.isfinite(lone)


def test_two_view_supcon_changes_training_and_the_model_pickles(small_logmel):
    X, y = small_logmel
    plain = tiny_clf(max_epochs=2, time_shift=(1, 4)).fit(X, y)
    two = tiny_clf(max_epochs=2, time_shift=(1, 4),
                   callbacks=[("supcon", TwoViewSupCon(1.0))]).fit(X, y)
    losses = [[h["train_loss"] for h in m.history_] for m in (plain, two)]
    assert not np.allclose(losses[0], losses[1])
    assert "train_step_single" not in two.net_.__dict__  # the class's step once trained
    joblib.dump(two, io.BytesIO())
    assert variant_config("base_supcon")[1]["supcon"] == 1.0
    with pytest.raises(ValueError, match="makes its own views"):
        tiny_clf(max_epochs=1, spec_augment={"freq": (1, 2)},
                 callbacks=[("supcon", TwoViewSupCon(1.0))]).fit(X, y)


def test_instance_positives_are_the_other_view_only():
    # two clips of one class: with class positives each anchor has 3, with clip positives 1
    z = torch.nn.functional.normalize(torch.tensor(
        [[1.0, 0.2], [0.9, 0.1], [1.0, 0.3], [0.8, 0.2]]), dim=1)
    ids = torch.tensor([0, 1, 0, 1])  # clip ids of two views of two clips
    t = 0.5
    sim = (z @ z.T / t).fill_diagonal_(float("-inf"))
    log_prob = sim - torch.logsumexp(sim, dim=1, keepdim=True)
    want = -torch.stack([log_prob[0, 2], log_prob[1, 3], log_prob[2, 0], log_prob[3, 1]]).mean()
    assert supcon_loss(z, ids, t).item() == pytest.approx(want.item(), rel=1e-6)
    with pytest.raises(ValueError, match="positives must be 'class' or 'clip', got 'view'"):
        TwoViewSupCon(1.0, positives="view")


def test_simclr_variant_trains_differently_from_supcon(small_logmel):
    X, y = small_logmel
    fits = [tiny_clf(max_epochs=2, time_shift=(1, 4), random_state=0,
                     callbacks=[("c", TwoViewSupCon(1.0, positives=p))]).fit(X, y)
            for p in ("class", "clip")]
    losses = [[h["train_loss"] for h in m.history_] for m in fits]
    assert not np.allclose(losses[0], losses[1])
    assert variant_config("base_simclr")[1]["simclr"] == 1.0
