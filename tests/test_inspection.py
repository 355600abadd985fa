"""Frequency importance and plots (sklearn_hallu.inspection)."""

import numpy as np
import pytest
from sklearn.pipeline import Pipeline

from sklearn_hallu import FrequencyMaskTransformer, LogMelTransformer
from sklearn_hallu.inspection import frequency_importance, plot_frequency_importance

from .conftest import SMALL_LOGMEL, SMALL_MASK, tiny_clf


def test_frequency_importance(pipe_and_data):
    pipe, X, y = pipe_and_data
    pipe.fit(X[y < 8], y[y < 8])
    imp = frequency_importance(pipe, X[y >= 8], y[y >= 8], n_way=4, k_shot=2, n_episodes=30)
    assert len(imp["ratio"]) == 4 and np.all(imp["correct_high"] >= 0)
    import matplotlib

    matplotlib.use("Agg")
    ax = plot_frequency_importance(imp)
    assert len(ax.patches) == 4


def _masked_pipe(masks):
    return Pipeline([("logmel", LogMelTransformer(**SMALL_LOGMEL)), ("masks", masks),
                     ("clf", tiny_clf(max_epochs=1))])


def test_band_views_come_from_the_fitted_masks(sounds):
    """Bands given high first: the low band is view 2, the high band view 1."""
    X, y = sounds
    kw = dict(n_way=4, k_shot=2, n_episodes=30, random_state=0)
    masks = FrequencyMaskTransformer(bands=[(1000.0, 4000.0), (0.0, 1000.0)], **SMALL_MASK)
    pipe = _masked_pipe(masks).fit(X[y < 8], y[y < 8])
    assert pipe["masks"].view_names_ == ["whole", "1000-4000 Hz", "0-1000 Hz"]
    auto = frequency_importance(pipe, X[y >= 8], y[y >= 8], **kw)
    given = frequency_importance(pipe, X[y >= 8], y[y >= 8], low_view=2, high_view=1, **kw)
    np.testing.assert_array_equal(auto["correct_low"], given["correct_low"])
    np.testing.assert_array_equal(auto["correct_high"], given["correct_high"])


def test_time_views_are_not_bands(sounds):
    X, y = sounds
    pipe = _masked_pipe(FrequencyMaskTransformer(axis="time", **SMALL_MASK))
    pipe.fit(X[y < 8], y[y < 8])
    with pytest.raises(ValueError, match="not frequency bands"):
        frequency_importance(pipe, X[y >= 8], y[y >= 8], n_way=4, k_shot=2, n_episodes=5)
