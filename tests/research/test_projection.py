"""research.projection: the loss on a projection head in training, dropped for prediction."""

import io

import joblib
import numpy as np
import pytest
import torch

from research.projection import ProjectionHead, make_head
from research.variants import variant_config

from ..conftest import tiny_clf


class Watch(ProjectionHead):
    """Keeps the head's first and last weights and its last learning rate beside the net's
    (the lever drops them at the end of training)."""

    def on_batch_end(self, net, **kwargs):
        if not hasattr(self, "first"):
            self.first = {k: v.clone() for k, v in self.head_.state_dict().items()}

    def on_train_end(self, net, **kwargs):
        self.kept = {k: v.clone() for k, v in self.head_.state_dict().items()}
        self.lrs = (self.head_optimizer_.param_groups[0]["lr"],
                    net.optimizer_.param_groups[0]["lr"])
        super().on_train_end(net, **kwargs)


def test_the_head_trains_and_the_fitted_model_has_none(small_logmel):
    X, y = small_logmel
    plain = tiny_clf(max_epochs=3, lr_step=1, time_shift=(1, 4)).fit(X, y)
    watch, again = Watch(), Watch()
    headed = tiny_clf(max_epochs=3, lr_step=1, time_shift=(1, 4),
                      callbacks=[("head", watch)]).fit(X, y)
    tiny_clf(max_epochs=3, lr_step=1, time_shift=(1, 4),
             callbacks=[("head", again)]).fit(X, y)
    # the head was made at the embedding's width and moved from its initial weights
    module = headed.net_.module_.eval()
    Xt = torch.as_tensor(np.asarray(X[:2], dtype=np.float32))
    with torch.no_grad():
        dim = module(Xt if Xt.ndim == 4 else Xt[:, None]).shape[-1]
    assert watch.kept["0.weight"].shape == (dim, dim)
    assert not torch.equal(watch.first["0.weight"], watch.kept["0.weight"])
    # it follows the net's learning-rate schedule: the third epoch trained at lr / 100 (a
    # drop by 10 after each epoch; the net's has dropped once more when training ends)
    assert watch.lrs == (pytest.approx(plain.lr * 0.01), pytest.approx(plain.lr * 0.001))
    # and a seeded fit repeats, head included
    for k in watch.kept:
        torch.testing.assert_close(watch.kept[k], again.kept[k])
    assert int(watch.kept["1.num_batches_tracked"]) == len(headed.history_) * len(
        headed.history_[0]["batches"])
    # the fitted model is the plain encoder: same parameters by name, no head anywhere
    assert watch.head_ is None and "train_step_single" not in headed.net_.__dict__
    assert (list(headed.net_.module_.state_dict())
            == list(plain.net_.module_.state_dict()))
    # the encoder's gradient came through the head: its weights left the plain run's
    assert np.isfinite([h["train_loss"] for h in headed.history_]).all()
    moved = [not torch.allclose(a, b) for a, b in zip(
        plain.net_.module_.state_dict().values(), headed.net_.module_.state_dict().values())
        if a.dtype.is_floating_point]
    assert sum(moved) >= len(moved) // 2
    proba = headed.predict_proba(X[:4])
    np.testing.assert_allclose(proba.sum(1), 1.0, rtol=1e-5)
    joblib.dump(headed, io.BytesIO())
    assert variant_config("base_head")[1]["head"] is True


def test_the_head_is_the_mlp_it_names():
    head = make_head(6)
    kinds = [type(m).__name__ for m in head]
    assert kinds == ["Linear", "BatchNorm1d", "ReLU", "Linear"]
    assert head(torch.randn(5, 6)).shape == (5, 6)


def test_multi_view_models_are_refused(small_logmel):
    X, y = small_logmel
    with pytest.raises(ValueError, match="one-view baseline without spec_augment"):
        tiny_clf(max_epochs=1, spec_augment={"freq": (1, 2)},
                 callbacks=[("head", ProjectionHead())]).fit(X, y)
