"""The main job: a small HalluAudio and a baseline on ESC-50, on CPU, in a few minutes.

``python -m sklearn_hallu.apps.demo`` (or ``sklearn-hallu demo``, or ``make demo``)
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

__all__ = ["main", "run", "build_parser"]

SETTINGS = ["5-way 1-shot", "5-way 5-shot"]


def build_parser(parser=None):
    """The demo's options, added to ``parser`` (or a new parser).

    Parameters
    ----------
    parser : argparse.ArgumentParser or None, default=None
        A parser to fill, e.g. the ``demo`` sub-command of ``sklearn-hallu``.

    Returns
    -------
    argparse.ArgumentParser
        The filled parser.
    """
    p = parser or argparse.ArgumentParser(prog="python -m sklearn_hallu.apps.demo",
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


def _fit_and_test(args, S, y, train, test):
    """Train the baseline and HalluAudio with the demo's budget; test them (paper protocol)."""
    from ..model_selection import few_shot_report
    from ._pipeline import make_model

    clf_params = dict(
        max_epochs=args.epochs, lr_step=max(1, (2 * args.epochs) // 3),
        channels=tuple(int(c) for c in args.channels.split(",")), time_shift=(20, 139),
        device=args.device, random_state=args.seed, verbose=1,
    )
    models = {"baseline": make_model("baseline", **clf_params),
              "HalluAudio": make_model("hallu", split_hz=args.split_hz, **clf_params)}
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
    return results


def _figure(args, S, y, test, results, path):
    """One test clip's views above the accuracy comparison, saved to ``path``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from .. import FrequencyMaskTransformer
    from ..inspection import plot_views

    fig = plt.figure(figsize=(10, 6))
    grid = fig.add_gridspec(2, 3)
    clip = int(np.flatnonzero(test)[0])
    views = FrequencyMaskTransformer(split_hz=args.split_hz).transform(S[clip:clip + 1])[0]
    plot_views(views, axes=[fig.add_subplot(grid[0, i]) for i in range(3)],
               titles=[f"whole ({y[clip]})", f"low (< {args.split_hz:g} Hz)",
                       f"high (>= {args.split_hz:g} Hz)"])
    ax = fig.add_subplot(grid[1, :])
    for j, name in enumerate(results):
        accs = [results[name][s]["accuracy"] for s in SETTINGS]
        cis = [results[name][s]["ci95"] for s in SETTINGS]
        ax.bar(np.arange(2) + 0.38 * j, accs, 0.36, yerr=cis, capsize=4, label=name)
    ax.set_xticks(np.arange(2) + 0.19, SETTINGS)
    ax.set_ylabel("accuracy on 10 novel classes (%)")
    ax.set_ylim(20, 100)
    ax.legend()
    channels = tuple(int(c) for c in args.channels.split(","))
    ax.set_title(f"{args.epochs} epochs, channels {channels}, CPU demo budget")
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def run(args):
    """Run the demo: train, test, print, and save demo.png and demo.json into ``args.out``.

    Parameters
    ----------
    args : argparse.Namespace
        The options of :func:`build_parser`.

    Returns
    -------
    int
        The exit code, 0.
    """
    from .. import LogMelTransformer
    from ..datasets import fetch_esc50

    t0 = time.perf_counter()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    data = fetch_esc50(args.data_home)
    print(f"ESC-50 from {data.root}: computing log-mel spectrograms of 2000 clips...",
          flush=True)
    S = LogMelTransformer().transform(list(data.filenames))
    y = data.category.astype(str)
    train = np.isin(data.target, data.class_split["train"])
    test = np.isin(data.target, data.class_split["test"])
    results = _fit_and_test(args, S, y, train, test)
    names = list(results)
    _figure(args, S, y, test, results, out / "demo.png")
    results["wall_time_s"] = time.perf_counter() - t0
    results["command"] = "python -m sklearn_hallu.apps.demo " + " ".join(sys.argv[1:])
    (out / "demo.json").write_text(json.dumps(results, indent=1, default=str))
    print("\nsummary (accuracy % ± 95% CI):")
    for name in names:
        cells = ", ".join(f"{s} {results[name][s]['accuracy']:.2f} ± "
                          f"{results[name][s]['ci95']:.2f}" for s in SETTINGS)
        print(f"  {name:>10}: {cells}")
    print(f"picture: {out / 'demo.png'}; wall time {results['wall_time_s'] / 60:.1f} min")
    return 0


def main(argv=None):
    """Run the demo with command-line arguments ``argv``; return the exit code."""
    from ..utils import tune_cpu_allocator

    tune_cpu_allocator()
    return run(build_parser().parse_args(argv))


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
