"""The input-validation module (sklearn_hallu.utils.validation) and the allocator setting."""

import platform
import sys

import numpy as np
import pytest
from scipy import sparse

from sklearn_hallu.utils.validation import (
    check_labels,
    check_spectrograms,
    check_views,
    check_waveform,
    reject_sparse,
)


def test_views_from_any_rank_and_nan_only_in_band_views():
    assert check_views(np.zeros((2, 5))).shape == (2, 1, 1, 5)
    assert check_views(np.zeros((2, 4, 5))).shape == (2, 1, 4, 5)
    X = np.zeros((3, 3, 4, 5), dtype=np.float64)
    X[1, 2, 0, 0] = np.nan  # a masked cell of a band view: allowed
    out = check_views(X)
    assert out.dtype == np.float32 and np.isnan(out[1, 2, 0, 0])
    X[2, 0, 0, 0] = np.nan  # in the whole spectrogram: refused
    with pytest.raises(ValueError, match="NaN or infinity in 1 clip.*index 2"):
        check_views(X)
    with pytest.raises(ValueError, match=r"instead of \(2, 4, 5\)"):
        check_views(np.zeros((1, 3, 4, 5)), view_shape=(2, 4, 5))


def test_one_message_per_kind_of_input():
    with pytest.raises(TypeError, match="Sparse data"):
        reject_sparse(sparse.csr_matrix(np.eye(2)))
    with pytest.raises(ValueError, match="must be 3-D"):
        check_spectrograms(np.zeros((2, 3)))
    with pytest.raises(ValueError, match="holds no clips"):
        check_spectrograms(np.zeros((0, 3, 4)))
    with pytest.raises(ValueError, match="clip 7 is complex"):
        check_waveform(np.zeros(10, complex), what="clip 7", min_samples=1)
    with pytest.raises(ValueError, match="file 'a.wav' has 3 samples, shorter"):
        check_waveform(np.zeros(3), what="file 'a.wav'", min_samples=4)
    with pytest.raises(ValueError, match="continuous values"):
        check_labels(np.array([0.5, 1.0]), 2)
    with pytest.raises(ValueError, match=r"one label per clip \(3\)"):
        check_labels([0, 1], 3)


_RSS_AFTER_FREE = """
import sys
import numpy as np
from sklearn_hallu.utils import tune_cpu_allocator
applied = tune_cpu_allocator() if sys.argv[1] == "tuned" else None
def rss():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * 4096
before = rss()
a = np.ones(2_500_000)  # 20 MB: above glibc's default mmap threshold, below the tuned one
del a
print(applied, (rss() - before) / 2**20)
"""


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="mallopt: glibc (Linux) only")
def test_tune_cpu_allocator_keeps_freed_memory_for_reuse():
    # by default a freed 20 MB block goes back to the kernel (munmap); tuned, it stays in
    # the heap for the next training step to reuse
    import subprocess

    def kept_mib(mode):
        out = subprocess.run([sys.executable, "-c", _RSS_AFTER_FREE, mode], check=True,
                             capture_output=True, text=True).stdout.split()
        return out[0], float(out[1])

    applied, tuned = kept_mib("tuned")
    _, default = kept_mib("default")
    assert applied == "True"
    assert tuned > 15 and default < 5, (tuned, default)


def test_tune_cpu_allocator_rejects_values_a_c_int_cannot_hold():
    from sklearn_hallu.utils import tune_cpu_allocator

    with pytest.raises(ValueError, match=r"trim_threshold=4294967296.*2\*\*31"):
        tune_cpu_allocator(trim_threshold=1 << 32)
