"""research.ensemble: members' embeddings joined, scored against the members."""

import json

import numpy as np
import pytest

from research import ensemble


def test_parse_ensemble_and_its_errors():
    assert ensemble.parse_ensemble("base_ref:0+base_ref:12") == [("base_ref", 0),
                                                                ("base_ref", 12)]
    for bad in ("base_ref:0", "base_ref+base_ref:1", "base_ref:x+base_ref:1"):
        with pytest.raises(ValueError, match="VARIANT:SEED|at least 2"):
            ensemble.parse_ensemble(bad)


def test_members_weigh_the_same_and_a_copy_adds_nothing():
    rng = np.random.RandomState(0)
    y = np.repeat(np.arange(5), 8)
    good = rng.randn(40, 6) + 3 * np.eye(6)[y]  # a member that separates the classes
    noise = rng.randn(40, 6) * 100  # a member of large, useless numbers
    a, b = (ensemble.unit_centred(e, e.mean(0)) for e in (good, noise))
    np.testing.assert_allclose(np.linalg.norm(a, axis=1), 1.0)
    joined = ensemble.ensemble_embedding([a, b])
    assert joined.shape == (40, 12)
    # the noise member cannot drown the good one: both halves have unit norm
    np.testing.assert_allclose(np.linalg.norm(joined[:, 6:], axis=1), 1.0)
    splits = {"val": (None, y)}
    embs = {("g", 0): {"val": a}, ("g", 1): {"val": a.copy()}, ("n", 0): {"val": b}}
    by_kind = ensemble.score(["g:0+g:1", "g:0+n:0"], embs, splits, passes=2)
    copy = by_kind[("g x2", "val", "5w1s")][0]
    np.testing.assert_array_equal(copy["ensemble"], copy["members_mean"])  # same geometry
    mixed = by_kind[("g+n", "val", "5w5s")][0]
    from research.transfer.layers import per_clip

    np.testing.assert_array_equal(mixed["best_member"], per_clip(a, y, 2)["5w5s"])
    assert mixed["best_member"].mean() > mixed["members_mean"].mean()


@pytest.mark.esc50
def test_test_stage_pairs_with_the_reproduction(esc50_root, tmp_path):
    import json

    from research import cross_run_gain
    from research.reproduce import cli as reproduce

    run = tmp_path / "run"
    reproduce.main(["--quick", "--data-home", str(esc50_root), "--out", str(run),
                    "--models", "baseline", "--seeds", "0", "1", "--device", "cpu"])
    out = tmp_path / "ens"
    common = ["--out", str(out), "--reference", str(run), "--tta", "1",
              "--data-home", str(esc50_root)]
    # a network joined with itself is the network: the same per-clip scores
    ensemble.main(["test", *common, "--kind", "self",
                   "--members", f"{run}:baseline:0+{run}:baseline:0"])
    ensemble.main(["test", *common, "--kind", "pair",
                   "--members", f"{run}:baseline:0+{run}:baseline:1"])
    res = json.loads((out / "results.json").read_text())
    ref = json.loads((run / "results.json").read_text())["models"]["baseline"]["per_seed"][0]
    for s, t in res["models"]["self"]["per_seed"][0]["test"].items():
        np.testing.assert_allclose(t["per_clip"], ref["test"][s]["per_clip"])
    assert res["models"]["pair"]["per_seed"][0]["members"].endswith("baseline:1")
    # a run of another class split is scored on its own test classes
    other = tmp_path / "other"
    reproduce.main(["--quick", "--data-home", str(esc50_root), "--out", str(other),
                    "--models", "baseline", "--seeds", "0", "--device", "cpu",
                    "--class-split", "3"])
    ensemble.main(["test", "--out", str(tmp_path / "ens3"), "--reference", str(other),
                   "--tta", "1", "--data-home", str(esc50_root), "--kind", "self",
                   "--members", f"{other}:baseline:0+{other}:baseline:0"])
    got = json.loads((tmp_path / "ens3" / "results.json").read_text())
    own = json.loads((other / "results.json").read_text())["models"]["baseline"]["per_seed"][0]
    for s, t in got["models"]["self"]["per_seed"][0]["test"].items():
        np.testing.assert_allclose(t["per_clip"], own["test"][s]["per_clip"])
    with pytest.raises(SystemExit, match="trained on class split 0 but the --reference on 3"):
        ensemble.main(["test", "--out", str(tmp_path / "ens_mixed"), "--reference",
                       str(other), "--tta", "1", "--data-home", str(esc50_root),
                       "--kind", "mixed", "--members", f"{other}:baseline:0+{run}:baseline:0"])
    cross_run_gain.main(["--model", f"{out}:pair", "--baseline", f"{run}:baseline",
                         "--out", str(tmp_path / "gain")])
    assert "5-way 1-shot" in (tmp_path / "gain" / "gain.md").read_text()


def _write_json(path, obj):
    import json

    path.write_text(json.dumps(obj))
    return path


def test_versus_pairs_a_variant_with_its_reference_seed_by_seed(tmp_path, monkeypatch):
    import json

    rng = np.random.RandomState(0)
    y = np.repeat(np.arange(5), 8)
    good = rng.randn(40, 6) + 3 * np.eye(6)[y]
    bad = rng.randn(40, 6)
    splits = {"val": (None, y), "probe": (None, y)}
    monkeypatch.setattr(ensemble, "_lever_splits",
                        lambda args, members: ({m: (m, {}) for m in members}, None, splits))
    monkeypatch.setattr(ensemble, "_member_embeddings", lambda m, X, sp, n: {
        k: ensemble.unit_centred(good if m[0] == "v" else bad, 0) for k in sp})
    ensemble.main(["versus", "--out", str(tmp_path), "--models", "x", "--variant", "v",
                   "--reference", "r", "--seeds", "0", "1", "--passes", "2"])
    rows = json.loads((tmp_path / "versus.json").read_text())["rows"]
    assert {(r["split"], r["setting"]) for r in rows} == {
        (s, k) for s in ("val", "probe") for k in ("5w1s", "5w5s")}
    assert all(r["gain"] > 20 and r["n"] == 2 and len(r["per_seed"]) == 2 for r in rows)
    for r in rows:  # each seed's two accuracies, their gain, and the interval over seeds
        assert np.allclose(np.subtract(r["ensemble_per_seed"], r["reference_per_seed"]),
                           r["per_seed"])
        assert np.isclose(np.mean(r["ensemble_per_seed"]), r["ensemble"])
    md = (tmp_path / "versus.md").read_text()
    assert md.startswith("# Training variant")
    assert all(f"{r['ci95_clips']:.2f}; ± {r['ci95_seeds']:.2f} |" in md for r in rows)
    r = rows[0]
    assert (f"| {r['split']} | {r['setting']} | 2 | "
            f"{np.std(r['ensemble_per_seed'], ddof=1):.2f} | "
            f"{np.std(r['reference_per_seed'], ddof=1):.2f} |") in md  # the spread table
    (tmp_path / "versus.md").write_text("stale")
    ensemble.main(["render", str(tmp_path / "versus.json")])
    assert (tmp_path / "versus.md").read_text() == md
    with pytest.raises(SystemExit, match="not a research.ensemble output"):
        ensemble.main(["render", str(_write_json(tmp_path / "bad.json", {"summary": []}))])


def test_member_embeddings_are_the_librarys_centred_embeddings_at_unit_norm(small_logmel,
                                                                           tmp_path):
    import joblib

    from ..conftest import tiny_clf

    S, y = small_logmel
    clf = tiny_clf(max_epochs=1, test_time_shifts=2).fit(S, y)
    joblib.dump(clf, tmp_path / "m.joblib")
    base, query = S[y < 8], S[y >= 8]
    got = ensemble._member_embeddings(tmp_path / "m.joblib", base, {"q": (query, None)}, 2)
    want = clf.fit_embedding_stats(base).embed(query)
    want = want / np.linalg.norm(want, axis=1, keepdims=True)
    np.testing.assert_allclose(got["q"], want, rtol=1e-4, atol=1e-5)


def test_class_ids_follow_the_runs_split_draw():
    from research.reproduce.features import class_ids
    from sklearn_hallu.datasets import esc50_class_split

    own = {"class_split": {"train": [0], "validation": [1], "test": [2]}}  # the data's own
    assert class_ids(own, {}) is own["class_split"]
    assert class_ids(own, {"class_split": 0}) is own["class_split"]  # 0: the paper's split
    assert class_ids(own, {"class_split": 3}) == esc50_class_split(3)
    assert esc50_class_split(3) != esc50_class_split()
    with pytest.raises(ValueError, match="split of ESC-50's classes, but the run's dataset"):
        class_ids(own, {"class_split": 3, "dataset": "kaggle18"})


def test_a_member_of_another_split_is_refused(tmp_path):
    import json

    run = tmp_path / "run"
    run.mkdir()
    (run / "results.json").write_text(json.dumps({"config": {"class_split": 3}}))
    ensemble.check_member_split(run, {"class_split": 3})
    (run / "results.json").write_text(json.dumps({"config": {"class_split": None}}))
    ensemble.check_member_split(run, {})  # unset, None and 0 all name the paper's split
    ensemble.check_member_split(run, {"class_split": 0})
    (run / "results.json").write_text(json.dumps({"config": {"class_split": 3}}))
    with pytest.raises(SystemExit, match="class split 3 but the --reference on None"):
        ensemble.check_member_split(run, {})
    with pytest.raises(SystemExit, match="no results.json"):
        ensemble.check_member_split(tmp_path / "missing", {})


def test_rule1_needs_a_positive_mean_on_both_splits(tmp_path):
    from research.rule1 import main, rule1

    def rows(val, probe, shifts=8):
        out = []
        for split, (g1, g5) in (("val", val), ("probe", probe)):
            out += [{"tta": str(shifts), "split": split, "setting": "5w1s", "gain": g1},
                    {"tta": str(shifts), "split": split, "setting": "5w5s", "gain": g5}]
        return out

    # the freq_pool screen's numbers: validation +0.36, probe -0.07 -> fails
    means, passed = rule1(rows((-0.37, 1.08), (0.02, -0.16)))
    assert not passed and means["val"] > 0 > means["probe"]
    assert rule1(rows((0.1, 0.2), (0.3, -0.2)))[1]  # both means positive
    assert not rule1(rows((0.0, 0.0), (1.0, 1.0)))[1]  # zero is not positive
    # the other shifts' rows are not read, and missing rows are an error
    assert not rule1(rows((1, 1), (-1, -1)) + rows((-5, -5), (5, 5), shifts=1))[1]
    with pytest.raises(ValueError, match="5w1s and 5w5s rows of split 'val' at 8"):
        rule1(rows((1, 1), (1, 1), shifts=1))
    path = tmp_path / "versus.json"
    path.write_text(json.dumps({"command": "x", "rows": rows((1, 1), (-1, 0.5))}))
    assert main([str(path)]) == 1
    path.write_text(json.dumps({"command": "x", "rows": rows((1, 1), (1, 0.5))}))
    assert main([str(path)]) == 0
