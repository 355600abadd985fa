"""research.freq_tta: mel-row offsets averaged at prediction, beside the time shifts."""

import json

import numpy as np
import pytest

from research import freq_tta


def test_shift_rows_moves_content_and_repeats_the_edge_row():
    X = np.arange(5.0).reshape(1, 5, 1) * np.ones((1, 1, 3))
    up, down = freq_tta.shift_rows(X, 2), freq_tta.shift_rows(X, -1)
    np.testing.assert_array_equal(up[0, :, 0], [0, 0, 0, 1, 2])
    np.testing.assert_array_equal(down[0, :, 0], [1, 2, 3, 4, 4])
    np.testing.assert_array_equal(freq_tta.shift_rows(X, 0), X)
    assert up.shape == X.shape


def test_offset_zero_is_the_librarys_time_shifted_embedding(small_logmel):
    from ..conftest import tiny_clf

    S, y = small_logmel
    clf = tiny_clf(max_epochs=1, test_time_shifts=2, embedding_norm=None).fit(S, y)
    got = freq_tta.offset_embeddings(clf, S[:6], 2, 0)
    np.testing.assert_allclose(got, clf.embed(S[:6]), rtol=1e-4, atol=1e-5)
    # +-1: the mean of the three moved copies' embeddings (each with its time shifts)
    three = [clf.embed(freq_tta.shift_rows(S[:6], d)) for d in (-1, 0, 1)]
    np.testing.assert_allclose(freq_tta.offset_embeddings(clf, S[:6], 2, 1),
                               np.mean(three, axis=0), rtol=1e-4, atol=1e-5)


def test_each_split_is_centred_on_the_training_clips_at_the_same_offsets(small_logmel,
                                                                        tmp_path):
    import joblib

    from research.ensemble import unit_centred

    from ..conftest import tiny_clf

    S, y = small_logmel
    clf = tiny_clf(max_epochs=1, test_time_shifts=2, embedding_norm=None).fit(S, y)
    joblib.dump(clf, tmp_path / "m.joblib")
    base, query = S[y < 8], S[y >= 8]
    got = freq_tta._embeddings(tmp_path / "m.joblib", base, {"q": (query, None)}, 2, 1)

    def by_hand(Xs):  # the library's raw embedding (2 shifts) of each moved copy, averaged
        return np.mean([clf.embed(freq_tta.shift_rows(Xs, d)) for d in (-1, 0, 1)], axis=0)

    want = unit_centred(by_hand(query), by_hand(base).mean(axis=0))
    np.testing.assert_allclose(got["q"], want, rtol=1e-4, atol=1e-5)
    # offset 0 is the library's centred-L2 embedding at unit norm
    zero = freq_tta._embeddings(tmp_path / "m.joblib", base, {"q": (query, None)}, 2, 0)
    lib = clf.set_params(embedding_norm="centered_l2").fit_embedding_stats(base).embed(query)
    np.testing.assert_allclose(zero["q"], lib / np.linalg.norm(lib, axis=1, keepdims=True),
                               rtol=1e-4, atol=1e-5)


def test_screen_pairs_each_offset_range_with_offset_zero(tmp_path, monkeypatch):
    rng = np.random.RandomState(0)
    y = np.repeat(np.arange(5), 8)
    good = rng.randn(40, 6) + 3 * np.eye(6)[y]
    bad = rng.randn(40, 6)
    splits = {"val": (None, y), "probe": (None, y)}
    monkeypatch.setattr(freq_tta, "_lever_splits",
                        lambda args, members: ({m: (m, {}) for m in members}, None, splits))
    seen = []

    def fake(path, X_base, sp, n_tta, d):
        seen.append((path, n_tta, d))
        return {k: good if d == 1 else bad for k in sp}

    monkeypatch.setattr(freq_tta, "_embeddings", fake)
    freq_tta.main(["screen", "--out", str(tmp_path), "--models", "x", "--seeds", "0", "1",
                   "--offsets", "1", "2", "--tta", "1", "8", "--passes", "2"])
    rows = json.loads((tmp_path / "screen.json").read_text())["rows"]
    assert {(r["kind"], r["tta"], r["split"], r["setting"]) for r in rows} == {
        (f"offsets ±{d}", t, s, k) for d in (1, 2) for t in ("1", "8")
        for s in ("val", "probe") for k in ("5w1s", "5w5s")}
    assert all(r["gain"] > 20 for r in rows if r["kind"] == "offsets ±1")
    assert all(r["gain"] == 0 for r in rows if r["kind"] == "offsets ±2")  # bad vs bad
    assert all(r["n"] == 2 and r["against"] == "offset 0" for r in rows)
    assert {(n, d) for _, n, d in seen} == {(n, d) for n in (1, 8) for d in (0, 1, 2)}
    md = (tmp_path / "screen.md").read_text()
    assert md.startswith(f"# {freq_tta.TITLE}")
    assert "| offsets ±2 | 8 | probe | 5w5s | 2 |" in md  # the spread table names the kind
    (tmp_path / "screen.md").write_text("stale")
    freq_tta.main(["render", str(tmp_path / "screen.json")])
    assert (tmp_path / "screen.md").read_text() == md
    with pytest.raises(SystemExit):
        freq_tta.main(["screen", "--out", str(tmp_path), "--models", "x", "--offsets", "0"])


@pytest.mark.esc50
def test_test_stage_with_offset_zero_is_the_reproductions_own_score(esc50_root, tmp_path):
    from research import cross_run_gain
    from research.reproduce import cli as reproduce

    run = tmp_path / "run"
    reproduce.main(["--quick", "--data-home", str(esc50_root), "--out", str(run),
                    "--models", "baseline", "--seeds", "0", "--device", "cpu",
                    "--test-time-shifts", "2"])
    common = ["test", "--run", str(run), "--data-home", str(esc50_root)]
    freq_tta.main([*common, "--offsets", "0", "--out", str(tmp_path / "zero")])
    freq_tta.main([*common, "--offsets", "1", "--out", str(tmp_path / "one")])
    ref = json.loads((run / "results.json").read_text())["models"]["baseline"]["per_seed"][0]
    zero = json.loads((tmp_path / "zero" / "results.json").read_text())
    got = zero["models"]["baseline_offsets0"]["per_seed"][0]
    for s, t in got["test"].items():  # the library's centred-L2 with its 2 shifts, exactly
        np.testing.assert_allclose(t["per_clip"], ref["test"][s]["per_clip"])
    one = json.loads((tmp_path / "one" / "results.json").read_text())
    assert one["config"]["mel_offsets"] == 1
    assert one["models"]["baseline_offsets1"]["per_seed"][0]["test"] != got["test"]
    cross_run_gain.main(["--model", f"{tmp_path / 'one'}:baseline_offsets1",
                         "--baseline", f"{run}:baseline", "--out", str(tmp_path / "gain")])
    assert "5-way 1-shot" in (tmp_path / "gain" / "gain.md").read_text()
