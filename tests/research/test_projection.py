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
    """Keeps the head's weights at the end of training (the lever drops them)."""

    def on_train_end(self, net, **kwargs):
        self.kept = {k: v.clone() for k, v in self.head_.state_dict().items()}
        super().on_train_end(net, **kwargs)


def test_the_head_trains_and_the_fitted_model_has_none(small_logmel):
    X, y = small_logmel
    plain = tiny_clf(max_epochs=2, time_shift=(1, 4)).fit(X, y)
    watch = Watch()
    headed = tiny_clf(max_epochs=2, time_shift=(1, 4), callbacks=[("head", watch)]).fit(X, y)
    # the head was made at the embedding's width and moved from its initial weights
    module = headed.net_.module_.eval()
    Xt = torch.as_tensor(np.asarray(X[:2], dtype=np.float32))
    with torch.no_grad():
        dim = module(Xt if Xt.ndim == 4 else Xt[:, None]).shape[-1]
    assert watch.kept["0.weight"].shape == (dim, dim)
    assert int(watch.kept["1.num_batches_tracked"]) == len(headed.history_) * len(
        headed.history_[0]["batches"])
    # the fitted model is the plain encoder: same parameters by name, no head anywhere
    assert watch.head_ is None and "train_step_single" not in headed.net_.__dict__
    assert (list(headed.net_.module_.state_dict())
            == list(plain.net_.module_.state_dict()))
    # the encoder learned something different from the plain run (the loss went through
    # the head), and it predicts
    losses = [[h["train_loss"] for h in m.history_] for m in (plain, headed)]
    assert np.isfinite(losses[1]).all() and not np.allclose(losses[0], losses[1])
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
