"""What tuning the CPU allocator changes: 3-view training with and without it.

``sklearn_hallu.utils.tune_cpu_allocator`` (called by the applications) keeps freed
tensor memory in the process. Its effect cannot be undone within a process, so
each round runs one training measurement per setting, each in a fresh process,
the settings alternating; the best round and the rounds' ratios are reported with
the user and system CPU time of each child.

Writes benchmarks/results/allocator.json.

    python benchmarks/bench_allocator.py [--rounds 3]
"""

import argparse
import json
import resource
import subprocess
import sys
from pathlib import Path

CHILD = """
import sys
sys.path.insert(0, {here!r})
from sklearn_hallu.utils import tune_cpu_allocator
tuned = tune_cpu_allocator() if {tuned} else False
from bench_train import make_model, time_training
m = make_model(3, "fused_bn_pool")
print(tuned, time_training(m, 3, "cpu", {steps}, "band"))
"""


def measure(tuned, steps):
    """Clips/s and CPU seconds (user, system) of one fresh process."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    code = CHILD.format(here=str(Path(__file__).parent), tuned=tuned, steps=steps)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout.split()
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return {"applied": out[0] == "True", "clips_per_s": float(out[1]),
            "user_s": after.ru_utime - before.ru_utime,
            "system_s": after.ru_stime - before.ru_stime}


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--steps", type=int, default=6)
    args = p.parse_args()
    runs = {"default": [], "tuned": []}
    for _ in range(args.rounds):
        for name in runs:
            runs[name].append(measure(name == "tuned", args.steps))
            print(name, runs[name][-1], flush=True)
    best = {k: max(r["clips_per_s"] for r in v) for k, v in runs.items()}
    res = {"what": "3-view fused_bn_pool training, band input, batch 50 (bench_train)",
           "runs": runs, "best_clips_per_s": best,
           "speedup_best": best["tuned"] / best["default"],
           "speedup_rounds": [t["clips_per_s"] / d["clips_per_s"]
                              for t, d in zip(runs["tuned"], runs["default"])],
           "command": f"python benchmarks/bench_allocator.py --rounds {args.rounds}"}
    out = Path(__file__).parent / "results" / "allocator.json"
    out.write_text(json.dumps(res, indent=1))
    print(json.dumps({k: v for k, v in res.items() if k != "runs"}, indent=1))


if __name__ == "__main__":
    main()
