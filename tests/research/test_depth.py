"""research.depth: a slower last block, and a decoder of block 2 on the embedding."""

import io

import joblib
import numpy as np
import pytest
import torch

from research.ablation import lever_callbacks
from research.depth import LowerBlockReconstruction, SlowBlock, block_of, normalised_error
from research.variants import variant_config

from ..conftest import tiny_clf


class Snapshot(SlowBlock):
    """Keeps every block's weights at the start of training and the groups' rates at the
    end (before they are merged back)."""

    def on_train_begin(self, net, **kwargs):
        self.start = [{k: v.clone() for k, v in block_of(net, i).state_dict().items()}
                      for i in range(3)]
        super().on_train_begin(net, **kwargs)

    def on_train_end(self, net, **kwargs):
        self.lrs = [g["lr"] for g in net.optimizer_.param_groups]
        super().on_train_end(net, **kwargs)


def _moved(start, block):
    return [not torch.equal(start[k], v) for k, v in block.state_dict().items()
            if k.endswith("weight")]


def test_a_frozen_last_block_keeps_its_weights_and_the_others_train(small_logmel):
    X, y = small_logmel
    snap = Snapshot(factor=0.0)
    clf = tiny_clf(max_epochs=2, callbacks=[("slow", snap)]).fit(X, y)
    assert not any(_moved(snap.start[2], block_of(clf.net_, 2)))
    assert all(_moved(snap.start[0], block_of(clf.net_, 0)))
    assert all(_moved(snap.start[1], block_of(clf.net_, 1)))
    # the block's parameters are back in the one group, every parameter once
    groups = clf.net_.optimizer_.param_groups
    assert len(groups) == 1
    assert len(groups[0]["params"]) == len(list(clf.net_.module_.parameters()))
    joblib.dump(clf, io.BytesIO())


def test_the_slow_group_follows_the_step_schedule(small_logmel):
    X, y = small_logmel
    snap = Snapshot(factor=0.1)
    clf = tiny_clf(max_epochs=3, lr_step=1, callbacks=[("slow", snap)]).fit(X, y)
    # three epochs, a drop by 10 after each: both groups at 1/1000 of their start
    assert snap.lrs == [pytest.approx(clf.lr * 1e-3), pytest.approx(clf.lr * 1e-4)]
    assert any(_moved(snap.start[2], block_of(clf.net_, 2)))


class WatchDecoder(LowerBlockReconstruction):
    """Keeps the decoder's first and last weights, and block 2's output width."""

    def on_train_begin(self, net, **kwargs):
        super().on_train_begin(net, **kwargs)
        self.widths = []
        self.watch = block_of(net, 1).register_forward_hook(
            lambda _m, _i, out: self.widths.append((out.shape[1] * out.shape[2],
                                                    out.requires_grad)))

    def on_batch_end(self, net, **kwargs):
        if not hasattr(self, "first"):
            self.first = self.decoder_.weight.detach().clone()

    def on_train_end(self, net, **kwargs):
        self.last, self.out_features = self.decoder_.weight.detach().clone(), \
            self.decoder_.out_features
        self.watch.remove()
        super().on_train_end(net, **kwargs)


def test_the_decoder_trains_and_the_fitted_model_has_none(small_logmel):
    X, y = small_logmel
    kw = dict(max_epochs=4, time_shift=(1, 4))
    plain = tiny_clf(**kw).fit(X, y)
    rec, again = WatchDecoder(1.0), WatchDecoder(1.0)
    fitted = tiny_clf(**kw, callbacks=[("recon", rec)]).fit(X, y)
    twin = tiny_clf(**kw, callbacks=[("recon", again)]).fit(X, y)
    errors = [b["recon_error"] for h in fitted.history_ for b in h["batches"]]
    assert np.isfinite(errors).all() and rec.last_error_ == errors[-1]
    # the decoder rebuilds block 2 (channels x frequency cells), trains, and its error falls
    width, needs_grad = rec.widths[0]
    assert rec.out_features == width and needs_grad
    assert not torch.equal(rec.first, rec.last)
    assert np.mean(errors[-3:]) < np.mean(errors[:3])
    assert errors == [b["recon_error"] for h in twin.history_ for b in h["batches"]]
    # dropped: no decoder, no hook, the plain step again, the plain state dict
    assert rec.decoder_ is None and rec._hook is None
    assert not block_of(fitted.net_, -2)._forward_hooks
    assert "train_step_single" not in fitted.net_.__dict__
    assert list(fitted.net_.module_.state_dict()) == list(plain.net_.module_.state_dict())
    # the decoder's loss reached the encoder: its weights left the plain run's
    moved = [not torch.allclose(a, b) for a, b in zip(
        plain.net_.module_.state_dict().values(), fitted.net_.module_.state_dict().values())
        if a.dtype.is_floating_point]
    assert sum(moved) >= len(moved) // 2
    np.testing.assert_allclose(fitted.predict_proba(X[:4]).sum(1), 1.0, rtol=1e-5)
    joblib.dump(fitted, io.BytesIO())


def test_normalised_error_is_one_for_the_mean_and_zero_for_the_target():
    t = torch.randn(16, 5) * torch.tensor([1.0, 2.0, 3.0, 4.0, 5.0])
    assert float(normalised_error(t, t)) == pytest.approx(0.0)
    assert float(normalised_error(t.mean(0).expand_as(t), t)) == pytest.approx(1.0)


def test_the_variants_name_their_levers():
    kinds = {name: [type(c).__name__ for _, c in lever_callbacks(variant_config(name)[1])]
             for name in ("base_slow_last", "base_recon")}
    assert kinds == {"base_slow_last": ["SlowBlock"],
                     "base_recon": ["LowerBlockReconstruction"]}
    assert lever_callbacks(variant_config("base_slow_last")[1])[0][1].factor == 0.1


def test_multi_view_models_and_bad_factors_are_refused(small_logmel, small_views):
    X, y = small_logmel
    with pytest.raises(ValueError, match="one-view baseline without spec_augment"):
        tiny_clf(max_epochs=1, spec_augment={"freq": (1, 2)},
                 callbacks=[("recon", LowerBlockReconstruction())]).fit(X, y)
    V, yv = small_views
    with pytest.raises(ValueError, match="one backbone"):
        tiny_clf(max_epochs=1, callbacks=[("slow", SlowBlock())]).fit(V, yv)
    with pytest.raises(ValueError, match="factor must be >= 0, got -1"):
        SlowBlock(-1)
