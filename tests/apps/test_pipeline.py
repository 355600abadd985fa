"""The applications' one model factory (sklearn_hallu.apps.make_model)."""

import numpy as np
import pytest
from sklearn.pipeline import Pipeline

from sklearn_hallu import FrequencyMaskTransformer, HalluAudioClassifier
from sklearn_hallu.apps import make_model


def test_views_and_steps():
    assert isinstance(make_model("baseline", max_epochs=1), HalluAudioClassifier)
    hallu = make_model("hallu", split_hz=1500.0, logmel={"duration": 2.0}, max_epochs=3)
    assert [name for name, _ in hallu.steps] == ["logmel", "masks", "clf"]
    assert hallu["masks"].split_hz == 1500.0 and hallu["logmel"].duration == 2.0
    assert hallu["clf"].max_epochs == 3
    time = make_model("time")
    assert isinstance(time, Pipeline) and time["masks"].axis == "time"
    with pytest.raises(ValueError, match="views must be one of"):
        make_model("both")


def test_crop_windows_come_from_the_masks():
    model = make_model("hallu", split_hz=2000.0, spectrogram_shape=(128, 160), crop_views=True)
    expected = FrequencyMaskTransformer(split_hz=2000.0).fit(
        np.zeros((1, 128, 160), np.float32)).view_windows_
    assert model["clf"].crop_views == expected == [(0, 128, 0, 160), (0, 71, 0, 160),
                                                   (71, 128, 0, 160)]
    assert not hasattr(model["masks"], "ranges_")  # the step itself stays unfitted
    assert make_model("hallu", crop_views=True)["clf"].crop_views is True  # no shape: data
