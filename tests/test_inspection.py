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
    assert len(imp["ratio"]) == 4
    # 30 episodes x 4 classes x 5 queries in all; the ratio is made of the counts
    assert 0 < imp["correct_high"].sum() <= 30 * 4 * 5
    np.testing.assert_array_equal(imp["ratio"], imp["correct_high"] / imp["correct_low"])
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


@pytest.mark.parametrize("informative", ["high", "low"])
def test_importance_points_to_the_band_that_separates_the_classes(small_views, informative):
    """Embeddings where only one band's part tells the classes apart: its side wins."""
    X, y = small_views
    clf = tiny_clf(max_epochs=1).fit(X[:40], y[:40])
    rng = np.random.default_rng(0)
    emb = rng.normal(size=(len(y), clf.prototypes_.shape[1]))
    sl = clf.view_slices_[2 if informative == "high" else 1]
    emb[:, sl] += 10 * rng.normal(size=(12, sl.stop - sl.start))[y]  # a centre per class
    imp = frequency_importance(clf, X, y, n_way=5, k_shot=1, n_episodes=40, embeddings=emb)
    if informative == "high":
        assert np.all(imp["ratio"] > 2), imp  # about 1 against chance, 1/5
    else:
        assert np.all(imp["ratio"] < 0.5), imp


def _pixels_inside(ax, img):
    """The RGB pixels inside ``ax`` (a 2-pixel margin off its frame)."""
    x0, y0, x1, y1 = ax.get_window_extent().extents
    h = img.shape[0]
    return img[int(h - y1) + 2:int(h - y0) - 2, int(x0) + 2:int(x1) - 2].reshape(-1, 3)


def test_plot_views_of_nan_masked_views_is_not_blank():
    """The default fill="nan": every view is drawn with colours, masked cells in grey."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from sklearn_hallu.datasets import make_sounds
    from sklearn_hallu.inspection import plot_views

    X, _ = make_sounds(n_classes=2, n_per_class=1, sr=8000, duration=0.5, random_state=0)
    S = LogMelTransformer(**SMALL_LOGMEL).fit_transform(X)
    V = FrequencyMaskTransformer(1000.0, **SMALL_MASK).fit_transform(S)
    assert np.isnan(V[0, 1]).any() and np.isnan(V[0, 2]).any()  # the default fill="nan"
    axes = plot_views(V[0], titles=["whole", "low", "high"])
    fig = axes[0].figure
    fig.canvas.draw()
    img = np.asarray(fig.canvas.buffer_rgba())[..., :3].astype(int)
    grey = np.array([216, 216, 216])  # "0.85"
    for ax, masked in zip(axes, [False, True, True]):
        inside = _pixels_inside(ax, img)
        spectrogram = inside[~np.all(inside == grey, axis=1)]
        assert len(np.unique(spectrogram, axis=0)) > 20, ax.get_title()  # not blank
        assert spectrogram.std() > 10, ax.get_title()
        assert np.all(inside == grey, axis=1).any() == masked, ax.get_title()
    plt.close(fig)
