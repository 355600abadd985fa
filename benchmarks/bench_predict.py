"""`sklearn-hallu predict` over 1,000 and 10,000 files: peak memory, clips/s, Dask.

Writes N short synthetic clips once (``--seconds`` each at 16 kHz, 16-bit wav, in
folders of 1,000), trains a small model with ``sklearn-hallu train`` (one epoch on
synthetic sounds), then runs, each in its own process (peak RSS from
``getrusage(RUSAGE_CHILDREN)`` of a wrapper process, wall time around it):

* ``sklearn-hallu predict MODEL --support S Q... --out FILE --no-progress`` over
  each N of ``--n`` (the streaming path: batches of 256 files);
* the one-call path predict took before, ``pipe.predict_proba(all files)`` after
  ``fit_support`` (``--no-reference`` leaves it out), for comparison;
* :func:`sklearn_hallu.predict_files` with ``client=`` on a
  ``LocalCluster(n_workers=2, threads_per_worker=1, processes=False)`` over the
  largest N, writing the CSV the command line writes, and checks that the two
  files are identical.

Imports only the public API. Writes benchmarks/results/predict.json and .md.

    nice -n 10 python benchmarks/bench_predict.py [--n 1000 10000] [--seconds 1.0]
"""

import argparse
import csv
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
SR = 16000
PER_FOLDER = 1000
WRAPPER = (
    "import json, resource, subprocess, sys, time\n"
    "t = time.perf_counter()\n"
    "p = subprocess.run(sys.argv[1:], capture_output=True, text=True)\n"
    "print(json.dumps({'rc': p.returncode, 'wall_s': time.perf_counter() - t,\n"
    "                  'peak_rss_mb': resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss\n"
    "                  / 1024, 'stderr': p.stderr[-3000:]}))\n"
)


def write_clips(folder, n, seconds, seed, *, n_classes=5):
    """``n`` clips in sub-folders of PER_FOLDER, made ``n_classes * 100`` at a time."""
    import soundfile as sf

    from sklearn_hallu.datasets import make_sounds

    i = 0
    while i < n:
        X, _ = make_sounds(n_classes=n_classes, n_per_class=100, sr=SR, duration=seconds,
                           random_state=seed + i)
        for clip in X[: n - i]:
            part = folder / f"part{i // PER_FOLDER:02d}"
            part.mkdir(parents=True, exist_ok=True)
            sf.write(part / f"clip{i:05d}.wav", clip, SR, subtype="PCM_16")
            i += 1


def write_classes(folder, n_classes, n_per_class, seconds, seed):
    import soundfile as sf

    from sklearn_hallu.datasets import make_sounds

    X, y = make_sounds(n_classes=n_classes, n_per_class=n_per_class, sr=SR, duration=seconds,
                       random_state=seed)
    for i, (clip, label) in enumerate(zip(X, y)):
        (folder / f"class{label}").mkdir(parents=True, exist_ok=True)
        sf.write(folder / f"class{label}" / f"{i:03d}.wav", clip, SR, subtype="PCM_16")


def measured(cmd):
    """Run ``cmd`` in a fresh process; its wall time, peak RSS and exit status."""
    proc = subprocess.run([sys.executable, "-c", WRAPPER, *map(str, cmd)],
                          capture_output=True, text=True, check=True)
    out = json.loads(proc.stdout)
    if out["rc"] != 0:
        raise SystemExit(f"{cmd[:4]}... failed ({out['rc']}):\n{out['stderr']}")
    return out


def cli(*args):
    return [sys.executable, "-m", "sklearn_hallu.apps.cli", *map(str, args)]


def query_files(folders):
    """The files in the order ``sklearn-hallu predict`` lists them."""
    return [str(p) for f in folders for p in sorted(Path(f).rglob("*.wav"))]


def support_set(folder):
    """Files and labels in the order of the command line's support folder scan."""
    files = sorted(Path(folder).glob("*/*.wav"))
    return [str(f) for f in files], np.array([f.parent.name for f in files])


def _model(args):
    from sklearn_hallu import fit_support
    from sklearn_hallu.persistence import load

    pipe = load(args.model)
    pipe.steps[-1][1].set_params(verbose=0)
    fit_support(pipe, *support_set(args.support))
    return pipe


def write_rows(path, pipe, results):
    """The CSV ``sklearn-hallu predict`` writes (same columns, same rounding)."""
    classes = [str(c) for c in pipe.classes_]
    with open(path, "w", newline="") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(["file", "label"] + [f"p_{c}" for c in classes])
        for r in results:
            w.writerow([r.path, str(r.label)] + [f"{v:.6f}" for v in r.proba])


def run_dask(args):
    """``--mode dask``: predict_files on a LocalCluster, rows to ``--csv``."""
    from distributed import Client, LocalCluster

    from sklearn_hallu import predict_files

    pipe = _model(args)
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=False,
                      dashboard_address=None, silence_logs=40) as cluster, \
            Client(cluster) as client:
        write_rows(args.csv, pipe, predict_files(pipe, query_files(args.queries),
                                                 batch_size=256, client=client))


def run_reference(args):
    """``--mode reference``: the one-call path (all files read, then one predict_proba)."""
    pipe = _model(args)
    proba = pipe.predict_proba(query_files(args.queries))
    print(proba.shape, file=sys.stderr)


def compare(a, b):
    """Whether two prediction CSVs are identical, and how far apart when not."""
    ra, rb = list(csv.reader(open(a))), list(csv.reader(open(b)))
    same = ra == rb
    pa = np.array([[float(v) for v in r[2:]] for r in ra[1:]])
    pb = np.array([[float(v) for v in r[2:]] for r in rb[1:]])
    return {"identical": same, "rows": len(ra) - 1,
            "same_files": [r[0] for r in ra] == [r[0] for r in rb],
            "same_labels": [r[1] for r in ra] == [r[1] for r in rb],
            "max_abs_proba_diff": float(np.abs(pa - pb).max()) if pa.shape == pb.shape
            else None}


def prepare(work, n_max, seconds):
    t = time.perf_counter()
    write_clips(work / "queries", n_max, seconds, seed=1000)
    write_classes(work / "train", 6, 10, seconds, seed=0)
    write_classes(work / "support", 3, 3, seconds, seed=7)
    made = time.perf_counter() - t
    train = measured(cli("train", work / "train", "--out", work / "model.skops", "--duration",
                         seconds, "--epochs", "1", "--no-progress"))
    return made, train


def bench(work, ns, seconds, reference):
    made, train = prepare(work, max(ns), seconds)
    model, support = work / "model.skops", work / "support"
    runs = []
    for n in ns:
        folders = [work / "queries" / f"part{k:02d}" for k in range(-(-n // PER_FOLDER))]
        kinds = [("cli", cli("predict", model, "--support", support, *folders, "--out",
                             work / f"cli_{n}.csv", "--no-progress"))]
        if reference:
            kinds.append(("one-call predict_proba (before)", [
                sys.executable, __file__, "--mode", "reference", "--model", model,
                "--support", support, "--queries", *folders]))
        if n == max(ns):
            kinds.append(("dask LocalCluster(2 workers)", [
                sys.executable, __file__, "--mode", "dask", "--model", model, "--support",
                support, "--csv", work / f"dask_{n}.csv", "--queries", *folders]))
        for name, cmd in kinds:
            out = measured(cmd)
            runs.append({"run": name, "n_files": n, "wall_s": round(out["wall_s"], 2),
                         "clips_per_s": round(n / out["wall_s"], 1),
                         "peak_rss_mb": round(out["peak_rss_mb"], 1)})
            print(json.dumps(runs[-1]), flush=True)
    n, cli_runs = max(ns), [r for r in runs if r["run"] == "cli"]
    first, last = cli_runs[0], cli_runs[-1]  # past start-up: the extra files / extra time
    marginal = ((last["n_files"] - first["n_files"]) / (last["wall_s"] - first["wall_s"])
                if len(cli_runs) > 1 and last["wall_s"] > first["wall_s"] else None)
    return {"clip_seconds": seconds, "sr": SR, "files_written_s": round(made, 1),
            "train_s": round(train["wall_s"], 1), "runs": runs,
            "cli_clips_per_s_past_startup": None if marginal is None else round(marginal, 1),
            "dask_vs_cli": compare(work / f"cli_{n}.csv", work / f"dask_{n}.csv")}


def write_results(result, out):
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=1) + "\n")
    lines = [
        "# `sklearn-hallu predict` over many files", "",
        f"{result['clip_seconds']:g} s clips at {result['sr']} Hz (16-bit wav), a model "
        "trained for one epoch by `sklearn-hallu train` (default backbone), support 3 "
        f"classes x 3 clips. Machine: {result['machine']}. Command: `{result['command']}` "
        f"(its wall time: {result['total_s']:.0f} s). Each run is a fresh process; wall "
        "time includes starting Python, importing torch and loading the model.", "",
        "| run | files | wall (s) | clips/s | peak RSS (MB) |", "|---|---|---|---|---|"]
    lines += [f"| {r['run']} | {r['n_files']} | {r['wall_s']} | {r['clips_per_s']} | "
              f"{r['peak_rss_mb']} |" for r in result["runs"]]
    d = result["dask_vs_cli"]
    lines += ["", "Past start-up (the extra files of the largest run over the extra time): "
              f"{result['cli_clips_per_s_past_startup']} clips/s."]
    lines += ["", f"Dask output vs the command line's, {d['rows']} rows: identical CSV "
              f"{d['identical']}, same labels {d['same_labels']}, largest probability "
              f"difference {d['max_abs_proba_diff']}."]
    out.with_suffix(".md").write_text("\n".join(lines) + "\n")


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--n", type=int, nargs="+", default=[1000, 10000])
    p.add_argument("--seconds", type=float, default=1.0)
    p.add_argument("--no-reference", dest="reference", action="store_false")
    p.add_argument("--out", type=Path, default=HERE / "results" / "predict.json")
    p.add_argument("--mode", choices=["bench", "dask", "reference"], default="bench",
                   help=argparse.SUPPRESS)
    for name in ("--model", "--support", "--csv"):
        p.add_argument(name, help=argparse.SUPPRESS)
    p.add_argument("--queries", nargs="+", help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.mode == "dask":
        return run_dask(args)
    if args.mode == "reference":
        return run_reference(args)
    t = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="bench_predict_") as work:
        result = bench(Path(work), sorted(args.n), args.seconds, args.reference)
    import torch

    result.update(
        machine=f"{platform.machine()}, {os.cpu_count()} CPUs, torch {torch.__version__}",
        command=" ".join(["nice -n 10 python benchmarks/bench_predict.py", *sys.argv[1:]]),
        total_s=round(time.perf_counter() - t, 1))
    write_results(result, args.out)
    print(json.dumps(result["dask_vs_cli"]))


if __name__ == "__main__":
    main()
