"""research.mixup: the query-mixup lever's loss by hand, and a training run that pickles."""

import io
import math

import joblib
import numpy as np
import pytest
import torch

from research.mixup import QueryMixup, mixed_query_loss
from research.variants import variant_config

from ..conftest import tiny_clf


def test_mixed_query_loss_by_hand():
    # 2-way 1-shot, 1 query per class: prototypes at 0 and 1 on a line
    emb = torch.tensor([[0.0], [0.2], [1.0], [0.9]])  # class 0: support, query; class 1: ...
    partner = torch.tensor([1, 0])
    lam = torch.tensor([0.75, 1.0])
    # query 0 at 0.2: logits -0.04, -0.64; query 1 at 0.9: logits -0.81, -0.01
    lp0 = [-0.04 - math.log(math.exp(-0.04) + math.exp(-0.64)),
           -0.64 - math.log(math.exp(-0.04) + math.exp(-0.64))]
    lp1 = -0.01 - math.log(math.exp(-0.81) + math.exp(-0.01))
    want = -(0.75 * lp0[0] + 0.25 * lp0[1] + lp1) / 2
    loss, acc = mixed_query_loss(emb, 2, 1, partner, lam)
    assert loss.item() == pytest.approx(want, rel=1e-5)
    assert acc.item() == 1.0
    # with every share 1 it is the plain prototypical cross-entropy
    plain, _ = mixed_query_loss(emb, 2, 1, partner, torch.ones(2))
    assert plain.item() == pytest.approx(-(lp0[0] + lp1) / 2, rel=1e-5)


def test_partners_are_indexed_in_class_major_order():
    # 2-way 1-shot, 2 queries per class: rows c*3 (support), c*3+1, c*3+2 (queries)
    emb = torch.tensor([[0.0], [0.1], [0.6], [1.0], [0.7], [0.95]])
    partner = torch.tensor([2, 0, 3, 1])  # queries 0,1 are class 0's; 2,3 class 1's
    lam = torch.tensor([0.6, 0.9, 0.3, 0.8])
    protos = [0.0, 1.0]
    queries = [(0.1, 0), (0.6, 0), (0.7, 1), (0.95, 1)]  # (embedding, class)
    want = 0.0
    for i, (q, c) in enumerate(queries):
        logits = [-(q - p) ** 2 for p in protos]
        logp = [v - math.log(sum(math.exp(u) for u in logits)) for v in logits]
        other = queries[int(partner[i])][1]
        want -= float(lam[i]) * logp[c] + (1 - float(lam[i])) * logp[other]
    loss, acc = mixed_query_loss(emb, 2, 1, partner, lam)
    assert loss.item() == pytest.approx(want / 4, rel=1e-5)
    assert acc.item() == 0.75  # class 0's query at 0.6 is nearer class 1's prototype


def test_query_mixup_changes_training_and_the_model_pickles(small_logmel):
    X, y = small_logmel
    plain = tiny_clf(max_epochs=2, time_shift=(1, 4)).fit(X, y)
    mixed = tiny_clf(max_epochs=2, time_shift=(1, 4),
                     callbacks=[("mixup", QueryMixup(0.4))]).fit(X, y)
    losses = [[h["train_loss"] for h in m.history_] for m in (plain, mixed)]
    assert not np.allclose(losses[0], losses[1])
    assert np.isfinite(losses[1]).all()
    assert "train_step_single" not in mixed.net_.__dict__
    joblib.dump(mixed, io.BytesIO())
    assert mixed.predict(X[:4]).shape == (4,)
    assert variant_config("base_mixup")[1]["mixup"] == 0.4
    with pytest.raises(ValueError, match="alpha must be a positive number, got 0"):
        QueryMixup(0)
    with pytest.raises(ValueError, match="one-view baseline without spec_augment"):
        tiny_clf(max_epochs=1, spec_augment={"freq": (1, 2)},
                 callbacks=[("mixup", QueryMixup(0.4))]).fit(X, y)
    with pytest.raises(ValueError, match="time_shift_per='clip'"):
        tiny_clf(max_epochs=1, time_shift=(1, 4), time_shift_per="episode",
                 callbacks=[("mixup", QueryMixup(0.4))]).fit(X, y)
