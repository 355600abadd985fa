"""Label propagation's screen scorer (research.transfer.layers) and rule LP's reader
(research/label_prop.py)."""

import json

import numpy as np
import pytest
import torch

from research import label_prop as lp
from research.transfer import layers
from research.transfer.layers import LABELPROP_GRID, labelprop_norm


def _classes(seed=0, per=12, n_classes=5, dim=8, spread=1.0):
    rng = np.random.default_rng(seed)
    y = np.repeat(np.arange(n_classes), per)
    emb = spread * rng.normal(size=(len(y), dim)) + 2.0 * np.eye(n_classes, dim)[y]
    return emb / np.linalg.norm(emb, axis=1, keepdims=True), y


def test_no_propagation_is_the_prototypes_on_the_same_episodes():
    # alpha=0: P is the identity, no support reaches its query (every score 0), so every
    # query takes the fallback, the prototypes; the same episodes give the same answers
    emb, y = _classes()
    plain = layers.per_clip(emb, y, passes=3)
    for balanced in (False, True):
        got = layers.per_clip_label_propagated(emb, y, 3, alpha=0.0, balanced=balanced)
        for key in plain:
            np.testing.assert_array_equal(got[key], plain[key])


def test_scores_are_the_propagated_support_labels_read_at_the_query():
    from sklearn_hallu.nn import neighbour_graph
    from sklearn_hallu.sampling import paper_episodes

    emb, y = _classes(seed=3)
    alpha = 0.5
    s = neighbour_graph(torch.from_numpy(emb)).to_dense().numpy()
    members = [np.flatnonzero(y == c) for c in range(5)]
    n = len(y)
    for balanced in (False, True):
        got = layers.per_clip_label_propagated(emb, y, 2, alpha, balanced=balanced)
        for n_way, k_shot in layers.SETTINGS:
            r = np.random.RandomState(layers.LAYER_SEED)
            hits = np.zeros((2, n))
            for p in range(2):
                support, target = paper_episodes(y, members, n_way, k_shot, r)
                for i in range(n):
                    labels = np.zeros((n, n_way))  # one-hot supports, the rest unlabelled
                    for j in range(n_way):
                        labels[support[i, j], j] = 1.0
                    f = np.linalg.solve(np.eye(n) - alpha * s, labels)
                    if balanced:  # each class over the mass it spreads over every clip
                        f = f / f.sum(axis=0)
                    hits[p, i] = f[i].argmax() == target[i]
            np.testing.assert_allclose(got[f"{n_way}w{k_shot}s"], hits.mean(0))


def test_propagation_follows_a_chain_the_prototypes_miss():
    # two classes along two long parallel chains, the supports at one end of each: a
    # query at the other end of chain A is nearer B's supports than A's prototype
    t = np.linspace(0.0, 6.0, 40)
    a = np.stack([t, np.zeros_like(t)], 1)
    b = np.stack([t[::-1], np.full_like(t, 1.2)], 1)
    emb, y = np.concatenate([a, b]), np.repeat([0, 1], 40)
    layers_settings = layers.SETTINGS
    try:
        layers.SETTINGS = ((2, 1),)
        proto = layers.per_clip(emb, y, passes=5)["2w1s"].mean()
        prop = layers.per_clip_label_propagated(emb, y, 5, alpha=0.99, balanced=True)
    finally:
        layers.SETTINGS = layers_settings
    assert prop["2w1s"].mean() > proto + 0.1


def test_class_mass_normalisation_stops_a_dense_class_taking_every_query():
    emb, y = _classes(seed=5, spread=0.8)
    plain = layers.per_clip_label_propagated(emb, y, 2, alpha=0.99)
    cmn = layers.per_clip_label_propagated(emb, y, 2, alpha=0.99, balanced=True)
    assert cmn["5w5s"].mean() > plain["5w5s"].mean() + 0.1


def test_a_query_no_support_reaches_takes_the_prototypes_answer():
    from sklearn_hallu.nn import prototype_logits, prototypes
    from sklearn_hallu.sampling import paper_episodes

    # two parts of the graph far apart (each of more clips than neighbours): classes 0-4,
    # and class 5 with one clip of class 0 moved to it. That clip's episodes without class
    # 5 have no support in its part: the prototypes decide; with class 5, propagation
    # gives it class 5 (wrong)
    rng = np.random.default_rng(7)
    y = np.repeat(np.arange(6), 12)
    emb = rng.normal(size=(72, 6)) + 3.0 * np.eye(6)[y]
    moved = 0
    emb[(y == 5)] += 200.0
    emb[moved] += 200.0
    got = layers.per_clip_label_propagated(emb, y, 3, alpha=0.5)
    members = [np.flatnonzero(y == c) for c in range(6)]
    e32 = torch.as_tensor(emb).float()
    for n_way, k_shot in layers.SETTINGS:
        r = np.random.RandomState(layers.LAYER_SEED)
        want, fallbacks = [], 0
        for _ in range(3):
            support, target = paper_episodes(y, members, n_way, k_shot, r)
            if 5 in y[support[moved, :, 0]]:
                want.append(False)
                continue
            fallbacks += 1
            logits = prototype_logits(e32[moved][None, None],
                                      prototypes(e32[torch.from_numpy(support[[moved]])]))
            want.append(int(logits[0, 0].argmax()) == target[moved])
        assert got[f"{n_way}w{k_shot}s"][moved] == pytest.approx(np.mean(want))
        assert 0 < fallbacks  # the case is exercised (the seed is fixed)


def test_label_propagation_norms_are_the_propagated_embeddings():
    rng = np.random.default_rng(0)
    parts = {f"block{i}": rng.normal(size=(30, 6)) for i in (1, 2, 3)}
    base = {f"block{i}": rng.normal(size=(40, 6)) for i in (1, 2, 3)}
    want = layers.NORMS["batch_propagated_l2"](parts, base)["block3"]
    for cand in LABELPROP_GRID:
        np.testing.assert_array_equal(layers.NORMS[labelprop_norm(*cand)](parts, base)["block3"],
                                      want)
        assert labelprop_norm(*cand) in layers.SCORERS


def test_the_screen_can_score_validation_and_probe_as_one_call():
    args = layers.build_parser().parse_args(["--out", "x", "--union"])
    assert args.union
    assert not layers.build_parser().parse_args(["--out", "x"]).union


def _summary(val, probe, union, shifts=8, skip=None):
    """Rows as research.transfer.layers writes them: each table maps a candidate to its
    (5w1s, 5w5s) gain over the prototypes (unlisted candidates: -1)."""
    rows = []
    for cand in LABELPROP_GRID:
        if cand == skip:
            continue
        for split, table in (("val", val), ("probe", probe), ("val+probe", union)):
            for setting, g in zip(lp.SETTINGS, table.get(cand, (-1.0, -1.0))):
                rows.append({"variant": "base_tpool1_long2x trained vs batch_propagated_l2",
                             "split": split, "depth": "block3", "setting": setting,
                             "norm": labelprop_norm(*cand) + ("" if shifts == 1
                                                              else f"+tta{shifts}"),
                             "gain": g})
                rows.append({**rows[-1], "depth": "block2", "gain": 99.0})  # ignored
    return rows


def _verdict(tmp_path, summary, shifts=8):
    path = tmp_path / "lp.json"
    path.write_text(json.dumps({"command": "x", "summary": summary}))
    return lp.main([str(path), "--shifts", str(shifts)])


def test_the_best_validation_candidate_passes_if_positive_everywhere(tmp_path, capsys):
    val = {(0.5, True): (0.4, 0.6), (0.9, False): (0.9, -0.1)}  # means 0.5 and 0.4
    rest = {(0.5, True): (0.1, 0.2), (0.9, False): (2.0, 2.0)}
    assert _verdict(tmp_path, _summary(val, rest, rest)) == 0
    assert "alpha=0.5, class mass normalised -> passes" in capsys.readouterr().out


def test_a_loss_in_one_cell_fails(tmp_path, capsys):
    val = {(0.2, False): (0.4, 0.6)}
    good = {(0.2, False): (0.3, 0.3)}
    assert _verdict(tmp_path, _summary(val, good, {(0.2, False): (0.3, -0.01)})) == 1
    assert "alpha=0.2, plain -> fails" in capsys.readouterr().out
    # nothing above zero on validation: the best is chosen, and fails there
    assert _verdict(tmp_path, _summary({(0.99, True): (-0.1, -0.2)}, good, good)) == 1


def test_shifts_pick_their_rows_and_a_missing_row_is_named(tmp_path):
    val = {(0.9, True): (1.0, 1.0)}
    assert _verdict(tmp_path, _summary(val, val, val, shifts=1), shifts=1) == 0
    with pytest.raises(ValueError, match=r"batch_labelprop_a0\.2\+tta8"):
        _verdict(tmp_path, _summary(val, val, val, shifts=1), shifts=8)
    with pytest.raises(ValueError, match="a0.99_cmn"):
        _verdict(tmp_path, _summary(val, val, val, skip=(0.99, True)))


def test_the_screen_rows_reach_the_reader():
    # the rows research.transfer.layers writes (summarise_norms of its results) are the
    # ones research.label_prop reads, the val+probe split included
    results = {"base_tpool1_long2x": {}}
    rng = np.random.default_rng(0)
    for split in lp.SPLITS:
        for norm in ["batch_propagated_l2"] + [labelprop_norm(*c) for c in LABELPROP_GRID]:
            for setting in lp.SETTINGS:
                key = (split, norm + "+tta8", "block3", setting)
                results["base_tpool1_long2x"][key] = {
                    s: {"trained": rng.uniform(size=20)} for s in (0, 1)}
    rows = layers.summarise_norms(results, "batch_propagated_l2")
    table = lp.gains(rows, "base_tpool1_long2x", 8)
    ref = results["base_tpool1_long2x"]
    want = 100 * np.mean([ref[("val+probe", "batch_labelprop_a0.9_cmn+tta8", "block3", "5w5s")]
                          [s]["trained"] - ref[("val+probe", "batch_propagated_l2+tta8",
                                                "block3", "5w5s")][s]["trained"]
                          for s in (0, 1)])
    assert table[(0.9, True)]["val+probe"]["5w5s"] == pytest.approx(want)


def test_the_library_decides_as_the_screen_scored_the_chosen_candidate():
    # rule LP: the library's opt-in gives the screen's answers on the same clips and
    # episodes, with the candidate validation chose (alpha 0.9, class mass normalised)
    from sklearn_hallu.nn import LABEL_PROPAGATION
    from sklearn_hallu.sampling import episodic_accuracy

    emb, y = _classes(seed=11, per=10, n_classes=6)
    cand = (LABEL_PROPAGATION["alpha"], LABEL_PROPAGATION["balanced"])
    assert cand == (0.9, True) and cand in LABELPROP_GRID
    want = layers.per_clip_label_propagated(emb, y, 3, *cand)
    for n_way, k_shot in layers.SETTINGS:
        got = episodic_accuracy(emb, y, n_way=n_way, k_shot=k_shot, protocol="paper",
                                n_repeats=3, random_state=layers.LAYER_SEED,
                                decision="label_propagation")
        np.testing.assert_array_equal(got.correct.reshape(3, -1).mean(0),
                                      want[f"{n_way}w{k_shot}s"])
