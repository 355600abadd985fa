"""Open-set support sets: "none of these" for clips of classes absent from the support."""

import numpy as np
import pytest
from sklearn.pipeline import Pipeline

from sklearn_hallu import HalluAudioClassifier, LogMelTransformer
from sklearn_hallu.datasets import make_sounds
from sklearn_hallu.open_set import (
    OpenSetClassifier,
    leave_one_out_distances,
    open_set_report,
)

from .conftest import SMALL_LOGMEL


@pytest.fixture(scope="module")
def trained():
    """A small model trained on 10 classes; 4 new classes: 3 known (supports), 1 unknown."""
    X, y = make_sounds(n_classes=14, n_per_class=12, sr=8000, duration=0.5, random_state=0)
    base = y < 10
    pipe = Pipeline([("logmel", LogMelTransformer(**SMALL_LOGMEL)),
                     ("clf", HalluAudioClassifier(n_way=5, k_shot=3, n_query=3, max_epochs=6,
                                                  lr_step=4, channels=(16, 16, 16),
                                                  random_state=0))]).fit(X[base], y[base])
    Xn, yn = X[~base], y[~base]
    sup = np.concatenate([np.flatnonzero(yn == c)[:5] for c in (10, 11, 12)])
    known = np.setdiff1d(np.flatnonzero(yn < 13), sup)
    return pipe, Xn, yn, sup, known, np.flatnonzero(yn == 13)


def test_refuses_clips_of_a_class_absent_from_the_support(trained):
    pipe, X, y, sup, known, unknown = trained
    model = OpenSetClassifier(pipe).fit(X[sup], y[sup])
    pred_unknown = model.predict(X[unknown])
    pred_known = model.predict(X[known])
    # the absent class is refused far more often than the known classes are
    assert np.mean(pred_unknown == -1) >= 0.5
    assert np.mean(pred_unknown == -1) > np.mean(pred_known == -1) + 0.3
    rep = open_set_report(model, X[known], y[known], X[unknown])
    assert rep["auroc"] > 0.8  # random scores give 0.5
    # accepted known clips keep the closed-set answer
    closed = model.estimator_.predict(X[known])
    kept = pred_known != -1
    assert np.array_equal(pred_known[kept], closed[kept])
    assert rep["known_rejected"] == pytest.approx(np.mean(~kept))


def test_the_users_model_is_not_changed(trained):
    pipe, X, y, sup, *_ = trained
    before = pipe[-1].prototypes_.copy(), pipe[-1].classes_.copy()
    OpenSetClassifier(pipe).fit(X[sup], y[sup])
    assert np.array_equal(pipe[-1].prototypes_, before[0])
    assert np.array_equal(pipe[-1].classes_, before[1])


def test_threshold_is_the_quantile_of_leave_one_out_distances(trained):
    pipe, X, y, sup, *_ = trained
    model = OpenSetClassifier(pipe, quantile=0.5).fit(X[sup], y[sup])
    assert len(model.calibration_distances_) == len(sup)
    assert model.threshold_ == pytest.approx(np.median(model.calibration_distances_))
    assert OpenSetClassifier(pipe, quantile=1.0).fit(X[sup], y[sup]).threshold_ > \
        model.threshold_


def test_leave_one_out_distances():
    emb = np.array([[0.0, 0.0], [2.0, 0.0], [10.0, 10.0]])
    d = leave_one_out_distances(emb, np.array([0, 0, 1]))
    assert d.tolist() == [4.0, 4.0]  # each against the other clip; the 1-shot class gives none


def test_one_shot_supports_need_a_threshold(trained):
    pipe, X, y, sup, known, unknown = trained
    one = np.array([np.flatnonzero(y == c)[0] for c in (10, 11, 12)])
    with pytest.raises(ValueError, match="single clip.*threshold="):
        OpenSetClassifier(pipe).fit(X[one], y[one])
    model = OpenSetClassifier(pipe, threshold=0.0).fit(X[one], y[one])
    assert np.all(model.predict(X[unknown]) == -1)  # nothing is that close


def test_bad_parameters_name_the_value(trained):
    pipe, X, y, sup, *_ = trained
    with pytest.raises(ValueError, match="quantile must be .* got 1.5"):
        OpenSetClassifier(pipe, quantile=1.5).fit(X[sup], y[sup])
    with pytest.raises(ValueError, match="unknown_label=10 is one of the support labels"):
        OpenSetClassifier(pipe, unknown_label=10).fit(X[sup], y[sup])


def test_string_labels_get_a_string_unknown(trained):
    pipe, X, y, sup, known, unknown = trained
    names = np.array([f"class_{v}" for v in y])
    model = OpenSetClassifier(pipe, unknown_label="unknown").fit(X[sup], names[sup])
    pred = model.predict(X[unknown])
    assert set(pred) <= {"unknown", "class_10", "class_11", "class_12"}
    assert "unknown" in set(pred)
