"""What a user installs: the wheel holds the library, not the research around it."""

import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_wheel_holds_the_library_only(tmp_path):
    # built from the checkout as pip would (no build isolation: no download needed)
    proc = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
         "-w", str(tmp_path), str(ROOT)], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr[-2000:]
    (wheel,) = tmp_path.glob("sklearn_hallu-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    code = [n for n in names if n.endswith(".py")]
    assert "sklearn_hallu/__init__.py" in code and "sklearn_hallu/apps/cli.py" in code
    tops = {n.split("/")[0] for n in names}
    assert tops <= {"sklearn_hallu"} | {t for t in tops if t.endswith(".dist-info")}, tops
    research = [n for n in code if any(word in n for word in (
        "reproduce", "ablation", "_experiments", "_merge", "_summary", "_paper",
        "embedding_norm", "cross_run", "reference_seeds", "validation_probe"))]
    assert not research, research
