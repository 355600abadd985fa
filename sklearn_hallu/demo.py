"""The main job: a small HalluAudio and a baseline on ESC-50, on CPU, in a few minutes.

``python -m sklearn_hallu.demo`` (or ``sklearn-hallu demo``, or ``make demo``)
trains both models with the same small budget on the 35 ESC-50 training classes,
tests them on the 10 test classes in 5-way 1-shot and 5-way 5-shot (the paper's
protocol: every test clip a query once per pass), prints accuracies with 95%
confidence intervals, and saves a picture: one clip's log-mel with its masked
views, and the accuracy comparison.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

__all__ = ["main", "run"]


def build_parser(parser=None):
    p = parser or argparse.ArgumentParser(prog="python -m sklearn_hallu.demo",
                                          description=__doc__.splitlines()[0])
    p.add_argument("--data-home", default=None, help="ESC-50 folder (default: "
                   "$SKLEARN_HALLU_ESC50, then the data home; downloaded when absent)")
    p.add_argument("--out", default="results/demo", help="folder for demo.png and demo.json")
    p.add_argument("--epochs", type=int, default=8)
    p.add_argument("--channels", default="32,32,32")
    p.add_argument("--split-hz", type=float, default=2000.0)
    p.add_argument("--repeats", type=int, default=10, help="test passes (paper: 50)")
    p.add_argument("--device", default="cpu")
    p.add_argument("--seed", type=int, default=0)
    return p


def run(args):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from sklearn.pipeline import Pipeline

    from . import FrequencyMaskTransformer, HalluAudioClassifier, LogMelTransformer
    from .datasets import fetch_esc50
    from .inspection import plot_views
    from .model_selection import few_shot_report

    t0 = time.perf_counter()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    data = fetch_esc50(args.data_home)
    split = data.class_split
    print(f"ESC-50 from {data.root}: computing log-mel spectrograms of 2000 clips...",
          flush=True)
    S = LogMelTransformer().transform(list(data.filenames))
    y = data.category.astype(str)
    train = np.isin(data.target, split["train"])
    test = np.isin(data.target, split["test"])
    channels = tuple(int(c) for c in args.channels.split(","))

    def classifier():
        return HalluAudioClassifier(
            max_epochs=args.epochs, lr_step=max(1, (2 * args.epochs) // 3), channels=channels,
            time_shift=(20, 139), device=args.device, random_state=args.seed, verbose=1)

    models = {
        "baseline": classifier(),
        "HalluAudio": Pipeline([("masks", FrequencyMaskTransformer(split_hz=args.split_hz)),
                                ("clf", classifier())]),
    }
    results = {}
    for name, model in models.items():
        print(f"\n== {name}: {args.epochs} epochs on the 35 training classes "
              f"({train.sum()} clips) ==", flush=True)
        t = time.perf_counter()
        model.fit(S[train], y[train])
        rep = few_shot_report(model, S[test], y[test], settings=((5, 1), (5, 5)),
                              n_repeats=args.repeats, random_state=args.seed)
        results[name] = {"fit_s": time.perf_counter() - t, **rep.as_dict()}
        print(f"{name} on the 10 test classes (paper protocol, {args.repeats} passes):\n{rep}",
              flush=True)

    fig = plt.figure(figsize=(10, 6))
    grid = fig.add_gridspec(2, 3)
    clip = int(np.flatnonzero(test)[0])
    views = FrequencyMaskTransformer(split_hz=args.split_hz).transform(S[clip:clip + 1])[0]
    plot_views(views, axes=[fig.add_subplot(grid[0, i]) for i in range(3)],
               titles=[f"whole ({y[clip]})", f"low (< {args.split_hz:g} Hz)",
                       f"high (>= {args.split_hz:g} Hz)"])
    ax = fig.add_subplot(grid[1, :])
    settings = ["5-way 1-shot", "5-way 5-shot"]
    for j, name in enumerate(results):
        accs = [results[name][s]["accuracy"] for s in settings]
        cis = [results[name][s]["ci95"] for s in settings]
        ax.bar(np.arange(2) + 0.38 * j, accs, 0.36, yerr=cis, capsize=4, label=name)
    ax.set_xticks(np.arange(2) + 0.19, settings)
    ax.set_ylabel("accuracy on 10 novel classes (%)")
    ax.set_ylim(20, 100)
    ax.legend()
    ax.set_title(f"{args.epochs} epochs, channels {channels}, CPU demo budget")
    fig.tight_layout()
    fig.savefig(out / "demo.png", dpi=110)
    results["wall_time_s"] = time.perf_counter() - t0
    results["command"] = "python -m sklearn_hallu.demo " + " ".join(sys.argv[1:])
    (out / "demo.json").write_text(json.dumps(results, indent=1, default=str))
    print("\nsummary (accuracy % ± 95% CI):")
    for name in models:
        cells = ", ".join(f"{s} {results[name][s]['accuracy']:.2f} ± "
                          f"{results[name][s]['ci95']:.2f}" for s in settings)
        print(f"  {name:>10}: {cells}")
    print(f"picture: {out / 'demo.png'}; wall time {results['wall_time_s'] / 60:.1f} min")
    return 0


def main(argv=None):
    return run(build_parser().parse_args(argv))


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
