"""The docs build (gallery executed), the user guide's examples, the ESC-50 example."""

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def test_docs_build_and_gallery_run(tmp_path):
    proc = subprocess.run(
        [sys.executable, "-m", "sphinx", "-W", "--keep-going", "-q", "-b", "html",
         "-d", str(tmp_path / "doctrees"), str(ROOT / "docs"), str(tmp_path / "html")],
        capture_output=True, text=True, cwd=ROOT,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    from matplotlib.image import imread

    images = ROOT / "docs" / "auto_examples" / "images"
    for name in ("plot_logmel_views", "plot_few_shot_own_sounds", "plot_grid_search_split",
                 "plot_save_load", "plot_detect_events"):
        assert (tmp_path / "html" / "auto_examples" / f"{name}.html").is_file()
        # a real thumbnail: the example drew a figure, and the thumbnail is not blank
        assert (images / f"sphx_glr_{name}_001.png").is_file(), f"{name} draws no figure"
        thumb = imread(images / "thumb" / f"sphx_glr_{name}_thumb.png")[..., :3]
        coloured = (thumb.max(-1) - thumb.min(-1)) > 0.1  # a blank plot is all greys
        assert coloured.mean() > 0.002, f"{name}: blank thumbnail"


@pytest.mark.esc50
def test_grid_search_esc50_example(esc50_root, tmp_path):
    proc = subprocess.run(
        [sys.executable, str(ROOT / "examples" / "grid_search_esc50.py"), "--data-home",
         str(esc50_root), "--epochs", "1", "--clips-per-class", "10", "--splits", "1000",
         "3000", "--folds", "2", "--out", str(tmp_path)],
        capture_output=True, text=True,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "best split" in proc.stdout and "mean_test_score" in proc.stdout
    assert (tmp_path / "cv_results.csv").is_file()
    assert (tmp_path / "split_vs_accuracy.png").stat().st_size > 1000


def test_readme_quickstart_and_search_run():
    """The quickstart, then the tuning snippet on its data: every score a number."""
    import re

    blocks = re.findall(r"```python\n(.*?)```", (ROOT / "README.md").read_text(), re.S)
    intro = blocks[0]  # the pipeline at the top of the README
    assert "Pipeline([" in intro and "fit(" not in intro
    quickstart = next(b for b in blocks if "fit_support(pipe" in b)
    search = next(b for b in blocks if "GridSearchCV(pipe" in b)
    check = 'print("SCORES", *search.cv_results_["mean_test_score"])\n'
    # our UserWarnings (and scikit-learn's "Scoring failed"/"non-finite") would be errors
    proc = subprocess.run([sys.executable, "-W", "error::UserWarning", "-c",
                           intro + 'print("INTRO", pipe)\n' + quickstart + search + check],
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr[-3000:]
    lines = proc.stdout.strip().splitlines()
    assert lines[0].startswith("INTRO Pipeline(")
    acc = float(next(ln for ln in lines if ln.startswith("accuracy")).split()[-1])
    assert acc > 0.5  # 4 new classes: chance is 0.25
    scores = [float(v) for v in lines[-1].split()[1:]]
    assert len(scores) == 4 and all(0.2 < s <= 1 for s in scores)  # no NaN; 5-way chance 0.2


def test_user_guide_examples_run():
    import doctest

    result = doctest.testfile(str(ROOT / "docs" / "user_guide.rst"), module_relative=False)
    assert result.attempted >= 10 and result.failed == 0, result
