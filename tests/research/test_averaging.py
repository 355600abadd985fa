"""research.averaging: the mean of the weights along training instead of the best epoch's."""

import io

import joblib
import numpy as np
import pytest
import torch
from skorch.callbacks import Callback

from research.ablation import lever_callbacks
from research.averaging import WeightAverage, reestimate_batch_norm
from research.variants import variant_config

from ..conftest import tiny_clf


class Recorder(WeightAverage):
    """Keeps every epoch's parameters and the batch-norm statistics the last epoch left."""

    def on_train_begin(self, net, **kwargs):
        self.snapshots = []
        super().on_train_begin(net, **kwargs)

    def on_epoch_end(self, net, **kwargs):
        self.snapshots.append({k: p.detach().clone()
                               for k, p in net.module_.named_parameters()})
        super().on_epoch_end(net, **kwargs)

    def on_train_end(self, net, **kwargs):
        self.last_buffers = {k: b.clone() for k, b in net.module_.named_buffers()}
        super().on_train_end(net, **kwargs)


def _fit(X, y, callbacks=None, **kw):
    return tiny_clf(max_epochs=5, lr_step=2, validation_classes=4, val_n_episodes=20,
                    callbacks=callbacks, **kw).fit(X, y)


@pytest.mark.parametrize("checkpoint", ["best", "best_after_last_drop"])
def test_the_kept_weights_are_the_mean_of_the_epochs_from_the_first_drop(small_logmel,
                                                                         checkpoint):
    X, y = small_logmel
    rec = Recorder()
    clf = _fit(X, y, [("swa", rec)], checkpoint=checkpoint)
    assert rec.first_epoch_ == 3 and rec.n_averaged_ == 3  # epochs 3, 4, 5 of 5
    for k, p in clf.net_.module_.named_parameters():
        mean = torch.stack([s[k] for s in rec.snapshots[2:]]).mean(dim=0)
        torch.testing.assert_close(p.detach(), mean)
        # not any single epoch's weights (the best-epoch rule's pick is replaced)
        if p.ndim > 1:
            assert all(not torch.allclose(p.detach(), s[k]) for s in rec.snapshots)
    assert rec._X is None and rec._y is None and rec._mean is None  # not kept with the model
    joblib.dump(clf, io.BytesIO())


def test_batch_norm_is_estimated_again_over_one_epoch_of_training_episodes(small_logmel):
    X, y = small_logmel
    rec = Recorder()
    clf = _fit(X, y, [("swa", rec)])
    n_episodes = clf.net_.spec["n_episodes"]
    norms = [m for m in clf.net_.module_.modules()
             if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)]
    assert rec.n_batch_norm_ == len(norms) >= 3
    # counted from zero again: one batch per episode of the epoch, then back to momentum
    assert all(int(m.num_batches_tracked) == n_episodes for m in norms)
    assert all(m.momentum == 0.1 for m in norms)
    means = [k for k in rec.last_buffers if k.endswith("running_mean")]
    buffers = dict(clf.net_.module_.named_buffers())
    assert all(not torch.allclose(buffers[k], rec.last_buffers[k]) for k in means)


def test_training_itself_is_unchanged(small_logmel):
    X, y = small_logmel
    plain = _fit(X, y)
    swa = _fit(X, y, [("swa", WeightAverage(start=2))])
    for key in ("train_loss", "valid_acc"):
        assert plain.net_.history[:, key] == swa.net_.history[:, key]
    # the run's episode stream is where training left it (the pass drew from a copy)
    a, b = plain.net_.episode_rng.get_state(), swa.net_.episode_rng.get_state()
    assert np.array_equal(a[1], b[1]) and a[2:] == b[2:]
    # the same trajectory, other kept weights, and other predictions from them
    assert not np.allclose(plain.embed(X), swa.embed(X))


def test_batch_norm_is_the_cumulative_mean_over_the_batches():
    torch.manual_seed(0)
    module = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.BatchNorm1d(4))
    module.eval()
    X = torch.randn(40, 3)
    assert reestimate_batch_norm(module, X.split(10), module) == 1
    bn = module[1]
    with torch.no_grad():
        h = module[0](X).reshape(4, 10, 4)
    torch.testing.assert_close(bn.running_mean, h.mean(dim=1).mean(dim=0))
    torch.testing.assert_close(bn.running_var, h.var(dim=1, unbiased=True).mean(dim=0))
    assert bn.momentum == 0.1 and not module.training  # both as they were
    assert reestimate_batch_norm(torch.nn.Linear(3, 4), X.split(10), lambda x: x) == 0


@pytest.mark.parametrize("start", [0, -1, 1.5, True, "last"])
def test_a_bad_start_is_refused(start):
    with pytest.raises(ValueError, match="start must be 'first_drop' or an epoch >= 1"):
        WeightAverage(start=start)


def test_a_start_after_the_last_epoch_is_refused(small_logmel):
    X, y = small_logmel
    with pytest.raises(ValueError, match="starts at epoch 9, after the last \\(3\\)"):
        tiny_clf(max_epochs=3, callbacks=[("swa", WeightAverage(start=9))]).fit(X, y)


@pytest.mark.parametrize("kw, match", [
    (dict(patience=2, validation_classes=4, val_n_episodes=20), "without early stopping"),
    (dict(spec_augment={"freq": (1, 4)}), "without spec_augment"),
    (dict(time_shift=(1, 3), time_shift_per="episode"), "time_shift_per='clip'"),
])
def test_what_it_cannot_average_is_refused(small_logmel, kw, match):
    X, y = small_logmel
    with pytest.raises(ValueError, match=match):
        tiny_clf(max_epochs=3, callbacks=[("swa", WeightAverage(start=1))], **kw).fit(X, y)


def test_the_variant_trains_with_the_average():
    _, cfg = variant_config("base_swa")
    (key, cb), = lever_callbacks(cfg)
    assert key == "swa" and isinstance(cb, WeightAverage) and cb.start == "first_drop"


def test_trajectory_rows_pair_the_kept_model_with_its_own_best_and_last_epochs():
    from research.averaging import trajectory_markdown, trajectory_rows

    rng = np.random.RandomState(0)
    scored = {}
    for seed, best in ((3, 2), (4, 1)):
        hist = [{"epoch": e + 1, **{f"probe_{k}": rng.rand(6).round(1).tolist()
                                    for k in ("5w1s", "5w5s")}} for e in range(3)]
        kept = {k: np.asarray(hist[best - 1][f"probe_{k}"]) + 0.1 for k in ("5w1s", "5w5s")}
        scored[seed] = ({"best_epoch": best, "history": hist}, kept)
    rows = trajectory_rows(scored)
    best = [r for r in rows if r["against"] == "best"]
    assert all(r["gain"] == pytest.approx(10.0) and r["per_seed"] == pytest.approx([10, 10])
               for r in best)
    assert all(r["epochs"] == [2, 1] for r in best)
    last = [r for r in rows if r["against"] == "last"]
    assert all(r["epochs"] == [3, 3] for r in last)
    want = np.mean([np.mean(scored[s][1]["5w1s"]) - np.mean(scored[s][0]["history"][2][
        "probe_5w1s"]) for s in (3, 4)]) * 100
    assert last[0]["gain"] == pytest.approx(want)
    assert "| best | 5w1s | 2 |" in trajectory_markdown(rows, "cmd")


class LrLog(Callback):
    """The learning rate of every training step, by epoch."""

    def on_train_begin(self, net, **kwargs):
        self.lrs = []

    def on_epoch_begin(self, net, **kwargs):
        self.lrs.append([])

    def on_batch_begin(self, net, training=False, **kwargs):
        if training:
            self.lrs[-1].append(net.optimizer_.param_groups[0]["lr"])


def test_the_held_lr_replaces_the_later_drops_and_training_before_start_is_unchanged(
        small_logmel):
    X, y = small_logmel
    kw = dict(max_epochs=6, lr_step=2, lr=0.01)
    plain, held = LrLog(), LrLog()
    a = tiny_clf(callbacks=[("log", plain)], **kw).fit(X, y)
    b = tiny_clf(callbacks=[("swa", WeightAverage(hold_lr=0.5)), ("log", held)], **kw).fit(X, y)
    per_epoch = [sorted(set(e)) for e in held.lrs]
    assert [sorted(set(e)) for e in plain.lrs] == [[0.01], [0.01], [0.001], [0.001],
                                                   [0.0001], [0.0001]]
    assert per_epoch == [[0.01], [0.01], [0.005], [0.005], [0.005], [0.005]]
    # the log says so too (the scheduler's own record would be stale after a drop)
    assert b.net_.history[:, "event_lr"] == pytest.approx([0.01, 0.01] + [0.005] * 4)
    # the first two epochs are base_ref's, step for step
    assert a.net_.history[:2, "train_loss"] == b.net_.history[:2, "train_loss"]
    assert a.net_.history[2, "train_loss"] != b.net_.history[2, "train_loss"]


@pytest.mark.parametrize("hold_lr", [0, -0.1, 1.5, True, "0.1"])
def test_a_bad_hold_lr_is_refused(hold_lr):
    with pytest.raises(ValueError, match="hold_lr must be None or a fraction"):
        WeightAverage(hold_lr=hold_lr)


def test_the_hold_variant_holds_a_tenth():
    _, cfg = variant_config("base_swa_hold")
    (key, cb), = lever_callbacks(cfg)
    assert key == "swa_hold" and cb.start == "first_drop" and cb.hold_lr == 0.1
