"""Log-mel throughput on all 2000 ESC-50 clips: LogMelTransformer vs a per-clip librosa loop.

Both are measured in the same run, on the same decoded waveforms (compute only), and
end to end from the FLAC files (decode + compute). Writes benchmarks/results/logmel.json.

    python benchmarks/bench_logmel.py [--data-home PATH] [--repeats 3]
"""

import argparse
import json
import os
import platform
import time
from pathlib import Path

import librosa
import numpy as np
import soundfile as sf
import torch

from sklearn_hallu import LogMelTransformer
from sklearn_hallu.datasets import fetch_esc50


def librosa_loop(waves):
    return np.stack([
        librosa.power_to_db(librosa.feature.melspectrogram(
            y=w, sr=16000, n_fft=2048, hop_length=502, n_mels=128, fmax=8000.0), ref=np.max)
        for w in waves])


def librosa_loop_files(files):
    return librosa_loop([sf.read(f, dtype="float32")[0] for f in files])


def best_of(fn, arg, repeats):
    times, out = [], None
    for _ in range(repeats):
        t = time.perf_counter()
        out = fn(arg)
        times.append(time.perf_counter() - t)
    return min(times), out


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--data-home", default=None)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--out", default=str(Path(__file__).parent / "results" / "logmel.json"))
    args = p.parse_args()
    files = list(fetch_esc50(args.data_home).filenames)
    n = len(files)
    waves = np.stack([sf.read(f, dtype="float32")[0] for f in files])
    tr = LogMelTransformer()
    # warm up both (numba compilation in librosa, torch kernels)
    librosa_loop(waves[:4])
    tr.transform(waves[:4])
    t_ours, ours = best_of(tr.transform, waves, args.repeats)
    t_loop, ref = best_of(librosa_loop, waves, args.repeats)
    t_ours_f, ours_f = best_of(tr.transform, files, args.repeats)
    t_loop_f, _ = best_of(librosa_loop_files, files, args.repeats)
    t_ours64, ours64 = best_of(LogMelTransformer(dtype="float64").transform, waves, 1)
    diff = np.abs(ours - ref)
    result = {
        "n_clips": n,
        "compute_only": {
            "ours_clips_per_s": n / t_ours, "librosa_loop_clips_per_s": n / t_loop,
            "speedup": t_loop / t_ours},
        "from_files": {
            "ours_clips_per_s": n / t_ours_f, "librosa_loop_clips_per_s": n / t_loop_f,
            "speedup": t_loop_f / t_ours_f},
        "max_abs_db_difference": float(diff.max()),
        "p99_99_abs_db_difference": float(np.percentile(diff, 99.99)),
        "fraction_of_cells_above_1e-3_db": float((diff > 1e-3).mean()),
        "worst_cell_level_db": float(ref.reshape(-1)[diff.argmax()]),
        "float64_option": {"clips_per_s": n / t_ours64,
                           "max_abs_db_difference": float(np.abs(ours64 - ref).max())},
        "max_abs_db_difference_from_files": float(np.abs(ours_f - ref).max()),
        "torch_threads": torch.get_num_threads(),
        "machine": {"platform": platform.platform(), "cpu_count": os.cpu_count(),
                    "torch": torch.__version__, "librosa": librosa.__version__},
        "command": "python benchmarks/bench_logmel.py",
    }
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=1))
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
