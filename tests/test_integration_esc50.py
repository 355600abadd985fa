"""The full Pipeline on real ESC-50: train briefly on a few training classes, then
classify novel test classes from supports, above the same network untrained."""

import numpy as np
import pytest
from sklearn.pipeline import Pipeline

from sklearn_hallu import FrequencyMaskTransformer, HalluAudioClassifier, LogMelTransformer
from sklearn_hallu.datasets import fetch_esc50
from sklearn_hallu.model_selection import few_shot_report


@pytest.mark.esc50
def test_pipeline_on_esc50_beats_untrained(esc50_root):
    data = fetch_esc50(esc50_root)
    split = data.class_split
    train_classes = split["train"][:12]
    tr = np.isin(data.target, train_classes)
    te = np.isin(data.target, split["test"])
    files, y = data.filenames.astype(str), data.category.astype(str)

    def pipe(train_backbone):
        return Pipeline([
            ("logmel", LogMelTransformer()),
            ("masks", FrequencyMaskTransformer(split_hz=2000)),
            ("clf", HalluAudioClassifier(max_epochs=6, lr_step=4, channels=(16, 16, 16),
                                         time_shift=(20, 139), random_state=0,
                                         train_backbone=train_backbone)),
        ])

    trained = pipe(True).fit(files[tr], y[tr])
    untrained = pipe(False).fit(files[tr], y[tr])
    kw = dict(settings=((5, 1),), n_repeats=5, random_state=0)
    acc_t = few_shot_report(trained, files[te], y[te], **kw).rows[0]["accuracy"]
    acc_u = few_shot_report(untrained, files[te], y[te], **kw).rows[0]["accuracy"]
    # 2000 queries each: the 95% CI is about +-2 points
    print(f"ESC-50 novel 5-way 1-shot: trained {acc_t:.2f}, untrained {acc_u:.2f}")
    assert acc_t > acc_u + 3, (acc_t, acc_u)
    assert set(trained.classes_) == {data.target_names[c] for c in train_classes}
