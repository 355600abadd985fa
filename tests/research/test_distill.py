"""research.distill: the soft term by hand, and training runs that differ from the plain run
by the teacher's soft outputs alone."""

import argparse
import io

import joblib
import numpy as np
import pytest
import torch

from research.ablation import build
from research.distill import EpisodeDistillation, query_logits, soft_term
from research.variants import variant_config
from sklearn_hallu.nn import prototypical_loss

from ..conftest import tiny_clf


def test_the_soft_term_by_hand():
    rng = np.random.default_rng(0)
    s, t = (torch.as_tensor(rng.normal(size=(6, 5)) * 3) for _ in range(2))
    assert float(soft_term(t, t, 4.0)) == pytest.approx(0.0, abs=1e-12)
    p = torch.softmax(t / 4, -1).numpy()
    q = torch.softmax(s / 4, -1).numpy()
    want = 16 * (p * (np.log(p) - np.log(q))).sum(-1).mean()
    assert float(soft_term(s, t, 4.0)) == pytest.approx(want, rel=1e-9)
    assert float(soft_term(s, t, 4.0)) > 0
    # a shift of every logit of a query changes nothing (softmax)
    assert float(soft_term(s + 7.0, t, 4.0)) == pytest.approx(want, rel=1e-9)


def test_query_logits_are_the_librarys_episode_logits():
    torch.manual_seed(0)
    emb = torch.randn(4 * (2 + 3), 6)  # 4-way 2-shot, 3 queries, class by class
    logits, own = query_logits(emb, 4, 2)
    assert logits.shape == (12, 4) and own.tolist() == [0] * 3 + [1] * 3 + [2] * 3 + [3] * 3
    loss = torch.nn.functional.cross_entropy(logits, own)
    assert float(loss) == pytest.approx(float(prototypical_loss(emb, 4, 2)[0]), rel=1e-6)


@pytest.fixture(scope="module")
def teacher(small_logmel, tmp_path_factory):
    X, y = small_logmel
    kw = dict(max_epochs=2, time_shift=(1, 4))
    path = tmp_path_factory.mktemp("teacher") / "base_ref_seed0.joblib"
    joblib.dump(tiny_clf(**kw, random_state=1).fit(X, y), path)
    return path


def test_the_lever_adds_the_teachers_soft_outputs_and_nothing_else(small_logmel, teacher):
    X, y = small_logmel
    kw = dict(max_epochs=2, time_shift=(1, 4))
    plain = tiny_clf(**kw).fit(X, y)
    lever = tiny_clf(**kw, callbacks=[("distill", EpisodeDistillation(teacher))]).fit(X, y)
    losses = [[h["train_loss"] for h in m.history_] for m in (plain, lever)]
    assert not np.allclose(losses[0], losses[1]) and np.isfinite(losses[1]).all()
    # the first batch is scored before any update: the same prototypical loss
    first = [m.history_[0]["batches"][0]["train_loss"] for m in (plain, lever)]
    assert first[0] == pytest.approx(first[1], rel=1e-6)
    kd = [b["kd"] for h in lever.history_ for b in h["batches"]]
    assert len(kd) == sum(len(h["batches"]) for h in plain.history_)
    assert all(v >= 0 for v in kd) and np.isfinite(kd).all()
    a, b = plain.net_.episode_rng.get_state(), lever.net_.episode_rng.get_state()
    assert np.array_equal(a[1], b[1]) and a[2:] == b[2:]  # the same episodes and shifts
    assert "train_step_single" not in lever.net_.__dict__
    joblib.dump(lever, io.BytesIO())
    assert lever.predict(X[:4]).shape == (4,)
    # the teacher is left as it was (evaluation mode, no gradient step)
    t0 = joblib.load(teacher).net_.module_.state_dict()
    cb = EpisodeDistillation(teacher)
    tiny_clf(**kw, callbacks=[("distill", cb)]).fit(X, y)
    t1 = joblib.load(teacher).net_.module_.state_dict()
    assert all(torch.equal(t0[k], t1[k]) for k in t0)


def test_variant_and_refusals(small_logmel, teacher, tmp_path):
    X, y = small_logmel
    assert variant_config("base_distill")[1]["distill"] == "base_ref"
    args = argparse.Namespace(epochs=1, episodes=2, lr_step=1, channels=8, device="cpu",
                              threads=1, verbose=0, out="unused", teachers=str(tmp_path))
    (key, cb), = build("baseline", variant_config("base_distill")[1], args, 3, [1]).callbacks
    assert key == "distill" and cb.teacher == tmp_path / "models" / "base_ref_seed3.joblib"
    assert (cb.weight, cb.temperature) == (0.5, 4.0)
    with pytest.raises(ValueError, match=r"weight must be in \(0, 1\), got 1"):
        EpisodeDistillation(teacher, weight=1)
    with pytest.raises(ValueError, match="temperature must be a positive number, got 0"):
        EpisodeDistillation(teacher, temperature=0)
    with pytest.raises(FileNotFoundError, match="teacher model .*nowhere.joblib not found"):
        tiny_clf(max_epochs=1, callbacks=[("distill", EpisodeDistillation(
            tmp_path / "nowhere.joblib"))]).fit(X, y)
