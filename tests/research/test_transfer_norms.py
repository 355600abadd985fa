"""research.transfer.norms and research.transfer.pool on a quick reproduction run of the
real ESC-50."""

import json

import numpy as np
import pytest
import soundfile as sf

from research.reproduce import cli as reproduce
from research.transfer import norms, pool


def _task(folder, n_classes=5, per_class=6, sr=16000):
    rng = np.random.default_rng(0)
    t = np.arange(sr) / sr
    for c in range(n_classes):
        (folder / f"c{c}").mkdir(parents=True)
        for i in range(per_class):
            tone = np.sin(2 * np.pi * (300 + 15 * c) * t) + 1.5 * rng.normal(size=sr)
            sf.write(folder / f"c{c}" / f"{i}.wav", (0.3 * tone).astype(np.float32), sr)
    return folder


@pytest.fixture(scope="module")
def quick_run(esc50_root, tmp_path_factory):
    run = tmp_path_factory.mktemp("norms") / "run"
    reproduce.main(["--quick", "--data-home", str(esc50_root), "--out", str(run),
                    "--models", "baseline", "--seeds", "0", "--device", "cpu"])
    return run


@pytest.mark.esc50
def test_norms_score_trained_and_untrained_on_the_same_episodes(esc50_root, quick_run,
                                                                 tmp_path):
    run = quick_run
    task = _task(tmp_path / "tones")
    out = tmp_path / "out"
    norms.main(["--run", str(run), "--out", str(out), "--tasks", str(task),
                "--data-home", str(esc50_root), "--norms", "centred_l2", "whitened_l2",
                "batch_whitened_l2", "--versus-norm", "centred_l2", "--tta", "1", "2",
                "--passes", "2"])
    rec = json.loads((out / "norms.json").read_text())
    rows = rec["summary"]
    assert rec["tasks"] == {"tones": {"clips": 30, "classes": 5}}
    pairs = [r for r in rows if r["variant"] == "baseline"]
    versus = [r for r in rows if " vs centred_l2" in r["variant"]]
    # 3 norms x 2 shift counts x 2 settings; the norm pairs for both networks
    assert len(pairs) == 12 and len(versus) == 2 * 2 * 2 * 2
    assert {r["norm"] for r in pairs} == {"centred_l2", "whitened_l2", "batch_whitened_l2",
                                          "centred_l2+tta2", "whitened_l2+tta2",
                                          "batch_whitened_l2+tta2"}
    assert any(abs(r["gain"]) > 0 for r in pairs)  # the twin is not the trained model
    for r in pairs:
        assert r["gain"] == pytest.approx(r["trained"] - r["untrained"], abs=1e-9)
        assert r["split"] == "tones" and r["seeds"] == [0]
    md = (out / "norms.md").read_text()
    assert "research.transfer.norms" in md and "| baseline | tones |" in md
    with pytest.raises(SystemExit):
        norms.main(["--run", str(run), "--out", str(out), "--tasks", str(task),
                    "--norms", "centred_l2", "--versus-norm", "whitened_l2"])


@pytest.mark.esc50
def test_pool_reads_each_pool_size_on_trained_and_untrained(esc50_root, quick_run,
                                                           tmp_path):
    task = _task(tmp_path / "tones", n_classes=10, per_class=6)
    out = tmp_path / "out"
    pool.main(["--run", str(quick_run), "--out", str(out), "--tasks", str(task),
               "--data-home", str(esc50_root), "--k", "5", "--pool-sizes", "8", "all",
               "--tta", "1", "2", "--passes", "2", "--name", "p", "--against", str(quick_run)])
    rec = json.loads((out / "p.json").read_text())
    assert rec["tasks"] == {"tones": {"clips": 60, "classes": 10}}
    assert rec["pool_sizes"] == [8, "all"] and rec["k"] == 5
    rows = rec["summary"]
    pairs = [r for r in rows if r["variant"] == "baseline"]
    versus = [r for r in rows if r["variant"] in ("baseline trained vs centred_l2",
                                                  "baseline untrained vs centred_l2")]
    # 3 norms x 2 shift counts x 2 settings; 2 pooled norms of both networks
    assert len(pairs) == 12 and len(versus) == 2 * 2 * 2 * 2
    # --against the same run: the same model on the same clips, pools and episodes
    same = [r for r in rows if r["variant"] == "baseline vs baseline"]
    assert len(same) == 12 and all(r["gain"] == 0 and r["trained"] == r["untrained"]
                                   for r in same)
    assert {r["norm"] for r in pairs} == {
        "centred_l2", "whitened_l2@8", "whitened_l2@all", "centred_l2+tta2",
        "whitened_l2@8+tta2", "whitened_l2@all+tta2"}
    assert {r["split"] for r in rows} == {"tones (k=5)"}
    assert any(abs(r["gain"]) > 0 for r in pairs)  # the twin is not the trained model
    assert any(abs(r["gain"]) > 0 for r in versus)  # the pool's whitening changes scores
    assert (out / "p.png").stat().st_size > 0  # accuracy against pool size
    md = (out / "p.md").read_text()
    assert "research.transfer.pool" in md and "| tones (k=5) | whitened_l2@8 |" in md
    (out / "p.png").unlink()
    pool.main(["--render", str(out / "p.json")])  # the table and figure from the json
    assert (out / "p.md").read_text() == md and (out / "p.png").is_file()
    with pytest.raises(SystemExit, match="not a research.transfer.pool output"):
        pool.main(["--render", str(out / "p.md")])
    with pytest.raises(SystemExit):
        pool.main(["--run", str(quick_run), "--out", str(out), "--tasks", str(task),
                   "--pool-sizes", "1"])
    with pytest.raises(SystemExit, match="no halluaudio model for seeds"):
        pool.main(["--run", str(quick_run), "--out", str(out), "--tasks", str(task),
                   "--data-home", str(esc50_root), "--against", str(quick_run),
                   "--against-kind", "halluaudio"])
