"""research.protomaml: first-order MAML around the episode loss."""

import copy
import io

import joblib
import numpy as np
import pytest
import torch

from research.protomaml import FirstOrderMAML, inner_adapt
from research.variants import variant_config

from ..conftest import tiny_clf


def _views_and_support(X, y):
    """The clips as one-view tensors, and a 3-way 3-shot support of the first classes."""
    Xv = torch.as_tensor(np.asarray(X, dtype=np.float32))
    Xv = Xv if Xv.ndim == 4 else Xv[:, None]
    return Xv, torch.stack([Xv[np.flatnonzero(y == c)[:3]] for c in np.unique(y)[:3]])


def test_with_a_vanishing_inner_step_it_is_the_plain_training(small_logmel):
    # the outer gradient is taken at the adapted weights and applied to the encoder's own,
    # and the batch-norm statistics come back: with an inner step of 1e-12 the run must
    # repeat the plain one (the same shifts are drawn from the same generator)
    X, y = small_logmel
    plain = tiny_clf(max_epochs=2, time_shift=(1, 4)).fit(X, y)
    still = tiny_clf(max_epochs=2, time_shift=(1, 4),
                     callbacks=[("maml", FirstOrderMAML(2, inner_lr=1e-12))]).fit(X, y)
    moved = tiny_clf(max_epochs=2, time_shift=(1, 4),
                     callbacks=[("maml", FirstOrderMAML(2, inner_lr=0.05))]).fit(X, y)
    losses = [[h["train_loss"] for h in m.history_] for m in (plain, still, moved)]
    np.testing.assert_allclose(losses[1], losses[0], rtol=1e-4)
    assert not np.allclose(losses[2], losses[0], rtol=1e-4)
    for a, b in zip(plain.net_.module_.state_dict().values(),
                    still.net_.module_.state_dict().values()):
        np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-3, atol=1e-5)
    assert "train_step_single" not in moved.net_.__dict__
    joblib.dump(moved, io.BytesIO())
    assert variant_config("base_fomaml")[1]["fomaml"] == 5


def test_inner_adapt_moves_the_copy_and_lowers_its_support_loss(small_logmel):
    X, y = small_logmel
    clf = tiny_clf(max_epochs=1).fit(X, y)
    module = clf.net_.module_
    before = [p.detach().clone() for p in module.parameters()]
    Xv, support = _views_and_support(X, y)
    losses = inner_adapt(module, support, 6, 0.05, np.random.RandomState(0))
    assert len(losses) == 6 and np.mean(losses[3:]) < np.mean(losses[:3])
    assert any(not torch.equal(a, b) for a, b in zip(before, module.parameters()))
    one_shot = inner_adapt(module, support[:, :1], 2, 0.05, np.random.RandomState(0))
    assert np.isfinite(one_shot).all()


def test_bad_settings_are_refused(small_logmel):
    with pytest.raises(ValueError, match="steps must be a positive integer, got 0"):
        FirstOrderMAML(0)
    with pytest.raises(ValueError, match="inner_lr must be a positive number, got -1"):
        FirstOrderMAML(2, inner_lr=-1)
    X, y = small_logmel
    with pytest.raises(ValueError, match="one-view baseline without spec_augment"):
        tiny_clf(max_epochs=1, spec_augment={"freq": (1, 2)},
                 callbacks=[("maml", FirstOrderMAML(1))]).fit(X, y)
    with pytest.raises(ValueError, match="time_shift_per='clip'"):
        tiny_clf(max_epochs=1, time_shift=(1, 4), time_shift_per="episode",
                 callbacks=[("maml", FirstOrderMAML(1))]).fit(X, y)


def test_compare_pairs_fine_tuned_systems_per_clip(tmp_path):
    import json

    from research import protomaml

    def write(name, variant, per_clip):
        rec = {"per_clip": per_clip, "seconds_per_episode": 0.1}
        (tmp_path / name).write_text(json.dumps(
            {"results": {variant: {"val": {"5w1s": {"0": rec}}}}}))

    write("ref.json", "base_ref", {"0": [0.0, 1.0, 0.5, 0.5], "5": [1.0, 1.0, 1.0, 1.0]})
    write("maml.json", "base_fomaml", {"0": [0.0, 0.0, 0.5, 0.5], "5": [1.0, 1.0, 0.5, 0.5]})
    out = tmp_path / "screen.md"
    protomaml.main(["--reference", f"plain={tmp_path}/ref.json:base_ref:0", "--systems",
                    f"maml_ft={tmp_path}/maml.json:base_fomaml:5",
                    f"maml_plain={tmp_path}/maml.json:base_fomaml:0", "--out", str(out)])
    md = out.read_text()
    assert "| maml_ft | val | 5w1s | 1 | 75.00 | 50.00 | +25.00 ±" in md
    assert "| maml_plain | val | 5w1s | 1 | 25.00 | 50.00 | -25.00 ±" in md
    with pytest.raises(SystemExit, match="no score after 20 steps"):
        protomaml.main(["--reference", f"r={tmp_path}/ref.json:base_ref:20", "--systems",
                        f"m={tmp_path}/maml.json:base_fomaml:5", "--out", str(out)])


def test_a_diverging_inner_loop_stops_with_a_clear_error(small_logmel):
    X, y = small_logmel
    clf = tiny_clf(max_epochs=1).fit(X, y)
    Xv, support = _views_and_support(X, y)
    with pytest.raises(FloatingPointError, match="the inner loss is (nan|inf) at step"):
        inner_adapt(clf.net_.module_, support, 5, 1e30, np.random.RandomState(0))


def test_the_authors_inner_loop_uses_batch_statistics_and_averaged_distances(small_logmel):
    # batch_stats: the copy's batch norm reads each step's batch (its running statistics
    # move); mean_distance: the loss is taken on distances averaged over the dimensions,
    # so at the same weights it is the summed loss's logits divided by the dimension
    from research.finetune import _sq_logits
    X, y = small_logmel
    clf = tiny_clf(max_epochs=1).fit(X, y)
    Xv, support = _views_and_support(X, y)
    q, p = torch.randn(4, 8), torch.randn(3, 8)
    torch.testing.assert_close(_sq_logits(q, p, mean=True) * 8, _sq_logits(q, p))
    frozen, batch = (copy.deepcopy(clf.net_.module_) for _ in range(2))
    stats = [b.clone() for b in frozen.buffers()]
    inner_adapt(frozen, support, 2, 0.05, np.random.RandomState(0))
    assert all(torch.equal(a, b) for a, b in zip(stats, frozen.buffers()))
    losses = inner_adapt(batch, support, 6, 0.2, np.random.RandomState(0),
                         mean_distance=True, batch_stats=True)
    assert np.isfinite(losses).all() and np.mean(losses[3:]) < np.mean(losses[:3])
    assert any(not torch.equal(a, b) for a, b in zip(stats, batch.buffers()))
    maml = FirstOrderMAML(2, inner_lr=0.2, mean_distance=True, batch_stats=True)
    fitted = tiny_clf(max_epochs=2, time_shift=(1, 4), callbacks=[("maml", maml)]).fit(X, y)
    assert np.isfinite([h["train_loss"] for h in fitted.history_]).all()
    assert variant_config("base_fomaml_authors")[1]["fomaml_authors"] == 5


def test_fine_tuning_with_batch_statistics_keeps_the_models_statistics(small_logmel):
    # the steps move the weights; prediction reads the model's own running statistics
    from research.finetune import finetune_scores
    X, y = small_logmel
    clf = tiny_clf(max_epochs=1).fit(X, y)
    module = copy.deepcopy(clf.net_.module_)
    stats = [b.clone() for b in module.buffers()]
    weights = [p.detach().clone() for p in module.parameters()]
    Xv, support = _views_and_support(X, y)
    preds = finetune_scores(module, support, Xv[np.flatnonzero(y == np.unique(y)[0])[3]],
                            (0, 3), np.random.RandomState(0), lr=0.2, momentum=0,
                            mean_distance=True, batch_stats=True)
    assert set(preds) == {0, 3}
    assert all(torch.equal(a, b) for a, b in zip(stats, module.buffers()))
    assert any(not torch.equal(a, b) for a, b in zip(weights, module.parameters()))
