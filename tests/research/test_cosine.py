"""research.cosine: the lever run's cosine training reaches the library's loss."""

import numpy as np

from research.cosine import TrainTemperature
from research.variants import variant_config

from ..conftest import tiny_clf


def test_train_temperature_sets_the_criterion_and_changes_training(small_views):
    X, y = small_views
    plain = tiny_clf(max_epochs=2).fit(X, y)
    cosine = tiny_clf(max_epochs=2, callbacks=[("cosine", TrainTemperature(10))]).fit(X, y)
    assert cosine.net_.criterion_.temperature == 10.0
    assert plain.net_.criterion_.temperature is None
    losses = [[h["train_loss"] for h in m.history_] for m in (plain, cosine)]
    assert not np.allclose(losses[0], losses[1])
    assert variant_config("base_cosine")[1]["train_temperature"] == 10.0
