"""research.distill: the soft term by hand, and training runs that differ from the plain run
by the teacher's soft outputs alone."""

import argparse
import copy
import io
import json

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


def test_the_teacher_runs_in_evaluation_mode_and_is_never_changed(small_logmel, teacher,
                                                                  monkeypatch):
    X, y = small_logmel
    seen = []
    load = EpisodeDistillation._teacher_module

    def keep(self, net):
        module = load(self, net)
        seen.append((module, copy.deepcopy(module.state_dict())))
        return module

    monkeypatch.setattr(EpisodeDistillation, "_teacher_module", keep)
    tiny_clf(max_epochs=2, time_shift=(1, 4),
             callbacks=[("distill", EpisodeDistillation(teacher))]).fit(X, y)
    (module, before), = seen
    assert not any(m.training for m in module.modules())
    assert all(p.grad is None for p in module.parameters())
    after = module.state_dict()  # weights and batch-norm running statistics alike
    assert all(torch.equal(before[k], after[k]) for k in before)


def test_one_step_is_the_loss_by_hand_on_the_students_own_input(small_logmel, teacher,
                                                                monkeypatch):
    """The gradient of one training step is that of 0.5 CE + 0.5 T^2 KL computed here, the
    teacher fed the very batch (time shifts included) the student embeds."""
    X, y = small_logmel
    inputs, steps = {"teacher": [], "student": []}, []

    class Stub(torch.nn.Module):  # a deterministic teacher that records its input
        def forward(self, x):
            inputs["teacher"].append(x.clone())
            return 3.0 * x.flatten(1)[:, :8]

    monkeypatch.setattr(EpisodeDistillation, "_teacher_module", lambda self, net: Stub())
    begin = EpisodeDistillation.on_train_begin

    def wrap(self, net, **kw):
        begin(self, net, **kw)
        step, infer = net.train_step_single, net.infer

        def recording_infer(x, **fit_params):
            inputs["student"].append(x.clone())
            return infer(x, **fit_params)

        def recording_step(batch, **fit_params):
            if not steps:
                state = copy.deepcopy(net.module_.state_dict())
                out = step(batch, **fit_params)
                grads = {n: p.grad.clone() for n, p in net.module_.named_parameters()}
                steps.append((state, grads))
                return out
            return step(batch, **fit_params)

        net.infer = recording_infer
        net.train_step_single = recording_step

    monkeypatch.setattr(EpisodeDistillation, "on_train_begin", wrap)
    clf = tiny_clf(max_epochs=1, time_shift=(1, 4),
                   callbacks=[("distill", EpisodeDistillation(teacher))]).fit(X, y)
    assert torch.equal(inputs["teacher"][0], inputs["student"][0])  # the shifted batch
    state, grads = steps[0]
    module = copy.deepcopy(clf.net_.module_)
    module.load_state_dict(state)
    module.train()
    module.zero_grad()
    xi = inputs["student"][0]
    emb = module(xi).flatten(1)
    proto = prototypical_loss(emb, 4, 2)[0]
    s_logits, _ = query_logits(emb, 4, 2)
    t_logits, _ = query_logits(3.0 * xi.flatten(1)[:, :8], 4, 2)
    p_t = torch.softmax(t_logits / 4, -1)
    kl = (p_t * (torch.log_softmax(t_logits / 4, -1)
                 - torch.log_softmax(s_logits / 4, -1))).sum(-1).mean()
    (0.5 * proto + 0.5 * 16 * kl).backward()
    for name, p in module.named_parameters():
        torch.testing.assert_close(p.grad, grads[name], rtol=1e-4, atol=1e-6)


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


@pytest.mark.esc50
def test_a_teacher_without_a_record_or_with_other_probe_classes_is_refused(esc50_root,
                                                                           tmp_path):
    from research import ablation

    common = ["run", "--data-home", str(esc50_root), "--out", str(tmp_path / "out"),
              "--teachers", str(tmp_path), "--variants", "base_distill", "--seeds", "0",
              "--probe", "5", "--epochs", "1", "--episodes", "1"]
    with pytest.raises(SystemExit, match="needs its teacher's run record .*base_ref_seed0"):
        ablation.main(common)
    (tmp_path / "runs").mkdir()
    (tmp_path / "runs" / "base_ref_seed0.json").write_text(json.dumps(
        {"probe_classes": [0, 1, 2, 3, 4]}))
    with pytest.raises(ValueError, match="its teacher.*probe_classes"):
        ablation.main(common)
