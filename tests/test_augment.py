"""SpecAugment during training: what is blanked, reproducibility, errors, persistence."""

import numpy as np
import pytest
import torch

from sklearn_hallu import persistence
from sklearn_hallu.nn import random_time_shift, spec_augment

from .conftest import tiny_clf


def test_bands_are_within_widths_and_shared_by_the_views():
    X = torch.zeros(50, 3, 16, 40)
    out = spec_augment(X, {"freq": (1, 5), "time": (1, 7)}, np.random.RandomState(0))
    assert torch.count_nonzero(X) == 0  # the input is left as it was
    blank = torch.isnan(out)
    for clip in blank:
        assert torch.equal(clip[0], clip[1]) and torch.equal(clip[0], clip[2])
        rows = torch.nonzero(clip[0].all(dim=1)).flatten()  # rows blanked over every frame
        cols = torch.nonzero(clip[0].all(dim=0)).flatten()
        assert len(rows) <= 5 and len(cols) <= 7
        if len(rows):  # one contiguous band
            assert rows[-1] - rows[0] + 1 == len(rows)
        # a cell is blank only in a blanked row or column
        assert torch.equal(clip[0], clip[0].all(dim=1, keepdim=True)
                           | clip[0].all(dim=0, keepdim=True))
    widths = blank[:, 0].all(dim=1).sum(dim=1)
    assert widths.max() > 0 and widths.min() < 5  # widths are drawn, not fixed


def test_one_view_input_and_time_only():
    X = torch.ones(20, 8, 30)
    out = spec_augment(X, {"time": (2, 4)}, np.random.RandomState(1))
    blank = torch.isnan(out)
    assert not blank.all(dim=2).any()  # no frequency band
    assert blank.any()
    assert (blank.all(dim=1).sum(dim=1) <= 8).all()  # at most 2 bands of 4 frames


def test_time_shift_per_clip_moves_each_clip_and_its_views_together():
    X = torch.arange(4 * 2 * 3 * 10, dtype=torch.float32).reshape(4, 2, 3, 10)
    assert torch.equal(random_time_shift(X, (3, 3), "clip", np.random.RandomState(0)),
                       torch.roll(X, 3, dims=-1))  # exactly 3 frames, circularly
    out = random_time_shift(X, (0, 9), "clip", np.random.RandomState(2))
    shifts = []
    for clip, moved in zip(X, out):
        s = [k for k in range(10) if torch.equal(torch.roll(clip, k, dims=-1), moved)]
        assert len(s) == 1  # every view and mel row of a clip moved by the same count
        shifts.append(s[0])
    assert len(set(shifts)) > 1  # clips draw their own shifts
    whole = random_time_shift(X, (0, 9), "episode", np.random.RandomState(2))
    k = [k for k in range(10) if torch.equal(torch.roll(X, k, dims=-1), whole)]
    assert len(k) == 1  # one draw rolls the whole batch
    assert torch.equal(X, torch.arange(240, dtype=torch.float32).reshape(4, 2, 3, 10))
    with pytest.raises(ValueError, match="per must be 'clip' or 'episode', got 'batch'"):
        random_time_shift(X, (0, 1), "batch", np.random.RandomState(0))


def test_draws_follow_the_documented_order():
    # replay: the shifts, then per frequency band the widths then the places, then time
    X = torch.randn(3, 2, 12, 20)
    rng = np.random.RandomState(7)
    out = spec_augment(random_time_shift(X, (-4, 6), "clip", rng),
                       {"freq": (2, 5), "time": (1, 8)}, rng)
    replay = np.random.RandomState(7)
    shifts = replay.randint(-4, 7, size=3)
    blank = np.zeros((3, 12, 20), dtype=bool)
    for n_masks, width, size, axis in ((2, 5, 12, 0), (1, 8, 20, 1)):
        for _ in range(n_masks):
            w = replay.randint(0, width + 1, size=3)
            start = (replay.random_sample(3) * (size - w + 1)).astype(np.int64)
            for c in range(3):
                if axis == 0:
                    blank[c, start[c]:start[c] + w[c], :] = True
                else:
                    blank[c, :, start[c]:start[c] + w[c]] = True
    for c in range(3):
        for v in range(2):
            want = np.roll(X[c, v].numpy(), shifts[c], axis=-1)
            got = out[c, v].numpy()
            np.testing.assert_array_equal(np.isnan(got), blank[c])
            np.testing.assert_array_equal(got[~blank[c]], want[~blank[c]])
    assert replay.randint(1 << 30) == rng.randint(1 << 30)  # nothing else was drawn


def test_augmented_training_is_seeded_and_differs_from_plain(small_views):
    X, y = small_views
    aug = {"freq": (1, 3), "time": (1, 4)}
    a = tiny_clf(spec_augment=aug).fit(X, y)
    b = tiny_clf(spec_augment=aug).fit(X, y)
    plain = tiny_clf().fit(X, y)
    losses = [[h["train_loss"] for h in m.history_] for m in (a, b, plain)]
    assert losses[0] == losses[1]
    assert losses[0] != losses[2]
    np.testing.assert_array_equal(a.predict_proba(X), b.predict_proba(X))
    assert np.isfinite(a.predict_proba(X)).all()  # prediction is never masked


@pytest.mark.parametrize("bad, match", [
    ({"freq": (1,)}, r"spec_augment\['freq'\] must be \(n_masks, max_width\)"),
    ({"freq": (1, -2)}, "two integers >= 0"),
    ({"band": (1, 2)}, "unknown keys"),
    ({}, "non-empty dict"),
])
def test_bad_settings_name_the_value_and_an_example(small_views, bad, match):
    X, y = small_views
    with pytest.raises(ValueError, match=match) as err:
        tiny_clf(spec_augment=bad).fit(X, y)
    assert "e.g. spec_augment=" in str(err.value)


def test_saved_model_keeps_the_setting(small_views, tmp_path):
    X, y = small_views
    clf = tiny_clf(spec_augment={"time": (1, 3)}, max_epochs=1).fit(X, y)
    path = tmp_path / "m.skops"
    persistence.dump(clf, path)
    back = persistence.load(path)
    assert back.spec_augment == {"time": (1, 3)}
    np.testing.assert_allclose(back.predict_proba(X), clf.predict_proba(X), rtol=1e-6)


def test_supervised_pretraining_learns_the_training_classes_then_episodes_go_on(small_views):
    X, y = small_views
    clf = tiny_clf(pretrain_epochs=6, max_epochs=1).fit(X, y)
    hist = clf.pretrain_history_
    assert [h["epoch"] for h in hist] == list(range(1, 7))
    assert hist[-1]["loss"] < hist[0]["loss"]  # cross-entropy over the classes goes down
    assert hist[-1]["acc"] > 1.5 / len(np.unique(y))  # well above chance
    assert len(clf.history_) == 1  # then the episodic epochs, as asked
    again = tiny_clf(pretrain_epochs=6, max_epochs=1).fit(X, y)
    assert again.pretrain_history_ == hist
    np.testing.assert_array_equal(again.predict_proba(X), clf.predict_proba(X))
    plain = tiny_clf(max_epochs=1).fit(X, y)
    assert not hasattr(plain, "pretrain_history_")
    assert not np.array_equal(plain.predict_proba(X), clf.predict_proba(X))


def test_pretraining_is_refused_below_zero(small_views):
    X, y = small_views
    with pytest.raises(ValueError, match="pretrain_epochs"):
        tiny_clf(pretrain_epochs=-1).fit(X, y)


def test_checkpoint_after_the_last_drop_keeps_a_late_epoch(small_views):
    X, y = small_views
    params = dict(max_epochs=4, lr_step=2, validation_classes=4, val_n_episodes=20,
                  checkpoint="best_after_last_drop")
    clf = tiny_clf(**params).fit(X, y)
    flags = [h["valid_acc_best"] for h in clf.history_]
    assert flags[:2] == [False, False] and flags[2] is True  # epochs 1-2 precede the drop
    kept = max(i + 1 for i, f in enumerate(flags) if f)
    # a run stopped at the kept epoch ends with the weights the longer run restored
    again = tiny_clf(**{**params, "max_epochs": kept}).fit(X, y)
    np.testing.assert_array_equal(again.predict_proba(X), clf.predict_proba(X))
    with pytest.raises(ValueError, match="patience=3 must be None"):
        tiny_clf(**params, patience=3).fit(X, y)


def test_the_default_checkpoint_is_the_late_rule_unless_training_stops_early(small_views):
    X, y = small_views
    params = dict(max_epochs=4, lr_step=2, validation_classes=4, val_n_episodes=20)
    auto = tiny_clf(**params).fit(X, y)
    assert auto.checkpoint == "auto"
    late = tiny_clf(**params, checkpoint="best_after_last_drop").fit(X, y)
    assert [h["valid_acc_best"] for h in auto.history_] == \
        [h["valid_acc_best"] for h in late.history_]
    np.testing.assert_array_equal(auto.predict_proba(X), late.predict_proba(X))
    # with patience, "auto" keeps the best of all epochs, as checkpoint="best" does
    stop = tiny_clf(**params, patience=3).fit(X, y)
    best = tiny_clf(**params, patience=3, checkpoint="best").fit(X, y)
    assert "valid_acc_best" not in stop.history_[-1]
    np.testing.assert_array_equal(stop.predict_proba(X), best.predict_proba(X))
