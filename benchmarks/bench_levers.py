"""Training cost of issue 23's training levers against the reference, per episode.

Each round fits every variant of ``--variants`` for ``--epochs`` epochs of 30 episodes
(5-way 5-shot, 5 queries, the lever runs' time shift) on the same synthetic log-mel
(30 classes x 40 clips of 128 x 160: the speed does not depend on the sound), without
validation, in an order that rotates between rounds; the ratio to ``base_ref`` is taken
within each round, so that the machine's drift between rounds cancels. Reports seconds
per training episode and the rounds' ratios (median, min, max). Run from a clone's root
(it imports ``research``), alone on the machine:

    python benchmarks/bench_levers.py [--rounds 3] [--epochs 2]

Writes benchmarks/results/levers.json.
"""

import argparse
import json
import platform
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from research.ablation import lever_callbacks  # noqa: E402
from research.variants import variant_config  # noqa: E402
from sklearn_hallu import HalluAudioClassifier  # noqa: E402


def make(variant, epochs, threads):
    model, cfg = variant_config(variant)
    if model != "baseline":
        raise SystemExit(f"{variant}: this benchmark times baseline variants only")
    callbacks = lever_callbacks(cfg)
    return HalluAudioClassifier(
        n_way=5, k_shot=5, n_query=5, max_epochs=epochs, n_episodes=30, lr_step=21,
        time_shift=(20, 139), time_shift_per=cfg["time_shift_per"], pooling=cfg["pooling"],
        n_threads=threads, random_state=0, callbacks=callbacks or None, embedding_norm=None)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--variants", nargs="+",
                   default=["base_ref", "base_mixup", "base_fomaml", "base_simclr"])
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--epochs", type=int, default=2)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "levers.json"))
    args = p.parse_args(argv)
    if "base_ref" not in args.variants:
        raise SystemExit("--variants must include base_ref, the reference of the ratios")
    rng = np.random.RandomState(0)
    X = rng.normal(-40, 10, size=(1200, 128, 160)).astype(np.float32)
    y = np.repeat(np.arange(30), 40)
    torch.set_num_threads(args.threads)
    episodes = args.epochs * 30
    rounds = []
    for r in range(args.rounds):
        order = args.variants[r % len(args.variants):] + args.variants[:r % len(args.variants)]
        times = {}
        for v in order:
            t0 = time.perf_counter()
            make(v, args.epochs, args.threads).fit(X, y)
            times[v] = (time.perf_counter() - t0) / episodes
            print(f"round {r}: {v} {times[v]:.3f} s/episode", flush=True)
        rounds.append(times)
    summary = {}
    for v in args.variants:
        ratios = [t[v] / t["base_ref"] for t in rounds]
        summary[v] = {"s_per_episode_min": min(t[v] for t in rounds),
                      "ratio_median": statistics.median(ratios),
                      "ratio_min": min(ratios), "ratio_max": max(ratios)}
    result = {"command": "python benchmarks/bench_levers.py " + " ".join(
                  sys.argv[1:] if argv is None else argv),
              "machine": {"cpu_count": torch.get_num_threads(), "python": platform.python_version(),
                          "torch": torch.__version__, "processor": platform.processor()},
              "episodes_per_fit": episodes, "rounds": rounds, "summary": summary}
    Path(args.out).write_text(json.dumps(result, indent=2))
    for v, s in summary.items():
        print(f"{v}: {s['s_per_episode_min']:.3f} s/episode, x{s['ratio_median']:.2f} "
              f"of base_ref (rounds {s['ratio_min']:.2f}-{s['ratio_max']:.2f})")


if __name__ == "__main__":
    main()
