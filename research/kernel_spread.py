"""How far one seed's headline numbers move when only the CPU kernels change.

Two machines of the same kind (same Python, torch build and thread count) trained the
headline baseline, seed 0, into different trajectories from the first epoch: the
floating-point sums differ with the kernels torch, oneDNN and MKL pick for the
processor, and a 63-epoch training amplifies the first rounding difference into another
model. This study reproduces that on one machine by pinning the kernels with the
environment variables each library reads at start-up, and measures the spread of one
seed's test numbers over the kernel choices, the stand-in for "another machine" that a
single machine allows::

    python -m research.kernel_spread --data-home ../shared/data/esc50 --seed 0 \\
        --out research/results/kernel_spread

Each setting runs ``python -m research.reproduce --models baseline --seeds SEED`` in a
child process with its environment (``--recipe``, default ``long``: the headline's).
A setting whose history equals ``default``'s epoch for epoch changes nothing on this
processor; one that differs is a machine-to-machine difference made visible. The
``portable`` setting (every library pinned to AVX2) is the candidate deterministic mode:
on any two AVX2 or newer processors it runs the same kernels, which this study can only
check on one processor (it is run twice: the two runs must agree).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np

from research._cli import command_line
from research.reproduce.features import log

#: setting -> environment variables (read by torch / oneDNN / MKL when they load)
SETTINGS = {
    "default": {},
    "aten_avx2": {"ATEN_CPU_CAPABILITY": "avx2"},
    "onednn_avx2": {"ONEDNN_MAX_CPU_ISA": "AVX2"},
    "mkl_avx2": {"MKL_CBWR": "AVX2", "MKL_ENABLE_INSTRUCTIONS": "AVX2"},
    "portable": {"ATEN_CPU_CAPABILITY": "avx2", "ONEDNN_MAX_CPU_ISA": "AVX2",
                 "MKL_CBWR": "AVX2", "MKL_ENABLE_INSTRUCTIONS": "AVX2"},
}
SETTING_NAMES = ("5-way 1-shot", "5-way 5-shot", "10-way 1-shot", "10-way 5-shot")


def run_setting(name, args, out):
    """Train and test the baseline under one setting (resumes a finished one)."""
    folder = out / name
    if (folder / "results.json").is_file():
        log(f"{name}: done before")
        return json.loads((folder / "results.json").read_text())
    env = {**os.environ, **SETTINGS[name.split("#")[0]]}
    cmd = [sys.executable, "-m", "research.reproduce", "--models", "baseline",
           "--seeds", str(args.seed), "--device", "cpu", "--recipe", args.recipe,
           "--out", str(folder)]
    if args.data_home:
        cmd += ["--data-home", args.data_home]
    if args.features_cache:
        cmd += ["--features-cache", args.features_cache]
    if args.quick:
        cmd += ["--quick"]
    log(f"{name}: {' '.join(f'{k}={v}' for k, v in SETTINGS[name.split('#')[0]].items())} "
        + " ".join(cmd[1:]))
    with open(out / f"{name}.log", "w") as fh:
        subprocess.run(cmd, env=env, check=True, stdout=fh, stderr=subprocess.STDOUT)
    return json.loads((folder / "results.json").read_text())


def summarise(results):
    """Per setting: the first epoch's loss, best epoch, test numbers; spread over settings."""
    def trajectory(res):  # what training computed (durations left out)
        hist = res["models"]["baseline"]["per_seed"][0]["history"]
        return [(h["train_loss"], h["train_acc"], h.get("valid_acc")) for h in hist]

    rows, trajectories = {}, []
    default = trajectory(results["default"]) if "default" in results else None
    for name, res in results.items():
        key = trajectory(res)
        if key not in trajectories:
            trajectories.append(key)
        entry = res["models"]["baseline"]["per_seed"][0]
        hist = entry["history"]
        rows[name] = {
            "env": SETTINGS[name.split("#")[0]],
            "torch_cpu_capability": res["machine"].get("torch_cpu_capability"),
            "epoch1_train_loss": hist[0]["train_loss"],
            "best_epoch": entry["best_epoch"],
            "same_history_as_default": key == default if default is not None else None,
            "trajectory": trajectories.index(key) + 1,
            **{s: entry["test"][s]["accuracy"] for s in SETTING_NAMES},
        }
    # one row per distinct trajectory: a setting that repeats another's history adds no spread
    distinct = list({r["trajectory"]: r for r in rows.values()}.values())
    spread = {s: {"min": float(min(r[s] for r in distinct)),
                  "max": float(max(r[s] for r in distinct)),
                  "sd": float(np.std([r[s] for r in distinct], ddof=1))
                  if len(distinct) > 1 else float("nan")} for s in SETTING_NAMES}
    return {"rows": rows, "n_trajectories": len(distinct), "spread": spread}


def markdown(summary, command):
    lines = ["# One seed's test numbers over CPU kernel choices (baseline, headline recipe)",
             "", f"Command: `{command}`", "",
             "Settings with the same trajectory number trained the same history epoch for "
             "epoch; the spread is over one row per distinct trajectory "
             f"({summary['n_trajectories']} here).", "",
             "| setting | env | epoch-1 loss | same history as default | trajectory | "
             "best epoch | " + " | ".join(SETTING_NAMES) + " |",
             "|---" * (6 + len(SETTING_NAMES)) + "|"]
    for name, r in summary["rows"].items():
        env = " ".join(f"{k}={v}" for k, v in r["env"].items()) or "(none)"
        lines.append(f"| {name} | {env} | {r['epoch1_train_loss']:.4f} | "
                     f"{r['same_history_as_default']} | {r['trajectory']} | {r['best_epoch']} | "
                     + " | ".join(f"{r[s]:.2f}" for s in SETTING_NAMES) + " |")
    lines.append("| spread over trajectories (max - min; sd) | | | | | | " + " | ".join(
        f"{v['max'] - v['min']:.2f}; {v['sd']:.2f}" for v in summary["spread"].values()) + " |")
    return "\n".join(lines) + "\n"


def main(argv=None):
    p = argparse.ArgumentParser(prog="python -m research.kernel_spread",
                                description=__doc__.split("\n\n")[0])
    p.add_argument("--out", default="research/results/kernel_spread")
    p.add_argument("--data-home", default=None)
    p.add_argument("--features-cache", default=None)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--recipe", default="long")
    p.add_argument("--quick", action="store_true", help="tiny runs: checks the harness")
    p.add_argument("--settings", nargs="+", default=[*SETTINGS, "portable#2"],
                   help="settings to run; NAME#2 runs NAME again (a repeat must agree)")
    args = p.parse_args(argv)
    unknown = [s for s in args.settings if s.split("#")[0] not in SETTINGS]
    if unknown:
        p.error(f"unknown settings {unknown}; choose among {list(SETTINGS)}")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    results = {name: run_setting(name, args, out) for name in args.settings}
    summary = summarise(results)
    command = command_line("research.kernel_spread", argv)
    (out / "kernel_spread.json").write_text(json.dumps({"command": command, **summary},
                                                       indent=1))
    (out / "kernel_spread.md").write_text(markdown(summary, command))
    print(markdown(summary, command))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
