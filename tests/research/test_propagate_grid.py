"""The propagation grid's norms and rule G's reader (research/propagate_grid.py)."""

import json

import numpy as np
import pytest

from research import propagate_grid as pg
from research.transfer.layers import NORMS, PROPAGATION_GRID, grid_norm


def _parts(rng, n=30, dim=6):
    return {f"block{i}": rng.normal(size=(n, dim)) for i in (1, 2, 3)}


def test_grid_norms_are_the_library_propagation_with_their_settings():
    from sklearn_hallu.nn import propagated_l2

    rng = np.random.default_rng(0)
    parts, base = _parts(rng), _parts(rng, n=40)
    current = NORMS["batch_propagated_l2"](parts, base)["block3"]
    np.testing.assert_array_equal(NORMS[grid_norm(10, 0.5)](parts, base)["block3"], current)
    # another setting is another propagation, of the same centred-L2 clips
    c = parts["block3"] - base["block3"].mean(axis=0)
    c /= np.linalg.norm(c, axis=1, keepdims=True)
    import torch
    want = propagated_l2(torch.from_numpy(c), [slice(0, 6)], n_neighbors=5, alpha=0.9).numpy()
    got = NORMS[grid_norm(5, 0.9)](parts, base)["block3"]
    np.testing.assert_allclose(got, want, atol=1e-12)
    assert not np.allclose(got, current)


def _summary(val, probe, shifts=8, skip=None):
    """Rows as research.transfer.layers writes them: ``val`` / ``probe`` map a grid setting
    to its (5w1s, 5w5s) gain over the current one (unlisted settings: -1)."""
    rows = []
    for k, a in PROPAGATION_GRID:
        if (k, a) == pg.CURRENT or (k, a) == skip:
            continue
        for split, table in (("val", val), ("probe", probe)):
            for setting, g in zip(pg.SETTINGS, table.get((k, a), (-1.0, -1.0))):
                rows.append({"variant": "base_tpool1_long2x trained vs batch_propagated_l2",
                             "split": split, "depth": "block3", "setting": setting,
                             "norm": grid_norm(k, a) + ("" if shifts == 1 else f"+tta{shifts}"),
                             "gain": g})
                # a row of another network and another norm reference is ignored
                rows.append({**rows[-1], "variant": "base_tpool1_long2x untrained vs "
                             "batch_propagated_l2", "gain": 99.0})
    return rows


def _verdict(tmp_path, summary, shifts=8):
    path = tmp_path / "grid.json"
    path.write_text(json.dumps({"command": "x", "summary": summary}))
    return pg.main([str(path), "--shifts", str(shifts)])


def test_the_best_validation_setting_passes_if_positive_everywhere(tmp_path, capsys):
    val = {(20, 0.75): (0.4, 0.6), (40, 0.9): (0.9, -0.1)}   # means 0.5 and 0.4
    probe = {(20, 0.75): (0.1, 0.2), (40, 0.9): (2.0, 2.0)}
    assert _verdict(tmp_path, _summary(val, probe)) == 0
    assert "k=20, alpha=0.75 -> passes" in capsys.readouterr().out


def test_a_loss_in_one_cell_fails_and_the_current_setting_stays(tmp_path, capsys):
    val = {(20, 0.75): (0.4, 0.6)}
    assert _verdict(tmp_path, _summary(val, {(20, 0.75): (0.3, -0.01)})) == 1
    assert "k=20, alpha=0.75 -> the current setting stays" in capsys.readouterr().out
    # nothing better than the current setting on validation: it is chosen and stays
    assert _verdict(tmp_path, _summary({(5, 0.5): (0.2, -0.2)}, {(5, 0.5): (5.0, 5.0)})) == 1
    assert "k=10, alpha=0.5 -> the current setting stays" in capsys.readouterr().out


def test_shifts_pick_their_rows_and_a_missing_row_is_named(tmp_path):
    val, probe = {(5, 0.75): (1.0, 1.0)}, {(5, 0.75): (1.0, 1.0)}
    assert _verdict(tmp_path, _summary(val, probe, shifts=1), shifts=1) == 0
    with pytest.raises(ValueError, match=r"batch_propagated_l2_k5_a0\.5\+tta8"):
        _verdict(tmp_path, _summary(val, probe, shifts=1), shifts=8)
    with pytest.raises(ValueError, match="k40_a0.9"):
        _verdict(tmp_path, _summary(val, probe, skip=(40, 0.9)))


def test_the_screen_can_score_the_trained_networks_alone():
    from research.transfer import layers

    args = layers.build_parser().parse_args(["--out", "x", "--nets", "trained"])
    assert args.nets == ["trained"] and args.tasks == []
    with pytest.raises(SystemExit):  # --against needs the trained networks
        layers.main(["--out", "x", "--nets", "untrained", "--against", "r", "baseline"])
