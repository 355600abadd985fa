"""Transfer curves: few-shot accuracy on off-domain tasks after every training epoch.

Used by ``python -m research.ablation run ... --transfer-curve DIR [DIR ...]``: each task
folder (one sub-folder of clips per class, :mod:`research.transfer.data`) is scored with
the paper's protocol before training (the untrained network of that seed) and after every
epoch, on fixed episodes, so that the accuracy of the checkpoint the run keeps can be
paired with the untrained network's on the same clips and episodes, and the curve shows
when (if ever) training on ESC-50 helps the other domain.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from sklearn.pipeline import Pipeline
from skorch.callbacks import Callback

from research._cli import command_line
from sklearn_hallu.sampling import episodic_accuracy

from .study import task_features

__all__ = ["TransferCurve", "transfer_callbacks", "TRANSFER_SEED", "transfer_runs",
           "kept_and_untrained"]

SETTINGS = ((5, 1), (5, 5))
#: Seeds the transfer episodes (the same for every variant, seed and epoch).
TRANSFER_SEED = 20261203


class TransferCurve(Callback):
    """Record ``xfer_<task>_<n>w<k>s`` (per-clip accuracies) after every epoch.

    ``xfer_<task>_init_<n>w<k>s`` (the untrained network's) is recorded with the
    first epoch.
    """

    def __init__(self, task, X, y, passes, every=1):
        self.task = task
        self.X = X[:, None] if X.ndim == 3 else X  # (clips, views, mels, frames)
        self.y, self.passes, self.every = y, passes, every
        self._init = None

    def _scores(self, net):
        emb = net.forward(self.X).numpy()
        out = {}
        for n_way, k_shot in SETTINGS:
            res = episodic_accuracy(emb, self.y, n_way=n_way, k_shot=k_shot, protocol="paper",
                                    n_repeats=self.passes, random_state=TRANSFER_SEED)
            per_clip = res.correct.reshape(self.passes, len(self.y)).mean(axis=0)
            out[f"{n_way}w{k_shot}s"] = per_clip.round(4).tolist()
        return out

    def on_train_begin(self, net, **kwargs):
        self._init = self._scores(net)

    def on_epoch_end(self, net, **kwargs):
        epoch = len(net.history)
        if epoch == 1 or epoch % self.every == 0:
            for key, per_clip in self._scores(net).items():
                net.history.record(f"xfer_{self.task}_{key}", per_clip)
        if self._init is not None:
            for key, per_clip in self._init.items():
                net.history.record(f"xfer_{self.task}_init_{key}", per_clip)
            self._init = None

    def on_train_end(self, net, **kwargs):
        # after the best-epoch callback restored the kept weights (it runs first)
        for key, per_clip in self._scores(net).items():
            net.history.record(f"xfer_{self.task}_kept_{key}", per_clip)
        self.X = self.y = None  # not saved with the model


def transfer_callbacks(model, X_train, task_dirs, n_fft, passes, cache_dir, every=1):
    """One :class:`TransferCurve` per task folder, its clips as the model's input.

    Parameters
    ----------
    model : HalluAudioClassifier or Pipeline
        Unfitted; a Pipeline's transformers are fitted on ``X_train`` to make the
        task's views (as they are for the training clips).
    X_train : ndarray of shape (n_clips, n_mels, n_frames)
        The training clips' log-mel.
    task_dirs : list of str
        Task folders.
    n_fft : int
        The log-mel FFT size of the run.
    passes : int
        Passes of the paper protocol per epoch.
    cache_dir : str or Path
        Where the tasks' log-mel are cached.
    every : int, default=1
        Score after epoch 1 and every ``every``-th epoch (the kept checkpoint is scored
        at the end of training whatever ``every``).

    Returns
    -------
    list of (str, TransferCurve)
    """
    out = []
    for folder in task_dirs:
        name = Path(folder).name
        X, y = task_features(folder, {"n_fft": n_fft}, Path(cache_dir) / f"nfft{n_fft}")
        if isinstance(model, Pipeline):
            X = model[:-1].fit(X_train).transform(X)
        out.append((f"xfer_{name}", TransferCurve(name, np.asarray(X), y, passes, every)))
    return out


def transfer_runs(out):
    import json

    runs = [json.loads(p.read_text()) for p in sorted((Path(out) / "runs").glob("*.json"))]
    return [r for r in runs if any(k.startswith("xfer_") for k in r["history"][0])]


def _tasks(run):
    row = run["history"][0]
    return sorted({k[len("xfer_"):].rsplit("_", 1)[0] for k in row
                   if k.startswith("xfer_") and "_init_" not in k and "_kept_" not in k})


def _untrained(run, runs):
    """The history row holding ``run``'s untrained network's scores (``*_init_*``).

    A run records them when its episodic training begins, which for a pre-trained
    variant (``pretrain_epochs``) is after the pre-training: its untrained network is
    then read from the run of the same seed, model and log-mel without pre-training
    (the same initial weights and input statistics), and the variant must have one.
    """
    cfg = run.get("config", {})
    if not cfg.get("pretrain_epochs"):
        return run["history"][0]
    same = {k: v for k, v in cfg.items() if k not in ("pretrain_epochs", "spec_augment")}
    for other in runs:
        ocfg = other.get("config", {})
        if (other["seed"] == run["seed"] and other.get("model") == run.get("model")
                and not ocfg.get("pretrain_epochs")
                and {k: v for k, v in ocfg.items() if k != "spec_augment"} == same):
            return other["history"][0]
    raise SystemExit(f"{run['variant']} seed {run['seed']} was pre-trained before its "
                     "first transfer record: run its reference variant with the same seed "
                     "(e.g. base_ref) into the same --out for its untrained scores.")


def kept_and_untrained(run, runs, task, key):
    """Per-clip accuracies of ``run``'s kept checkpoint and of its untrained network on
    ``task`` in setting ``key`` (``"5w1s"``), on the same clips and episodes."""
    h = {row["epoch"]: row for row in run["history"]}
    init = np.asarray(_untrained(run, runs)[f"xfer_{task}_init_{key}"])
    end = h[max(h)]  # the kept checkpoint, scored after training
    kept = np.asarray(end.get(f"xfer_{task}_kept_{key}")
                      or h[run["best_epoch"]][f"xfer_{task}_{key}"])
    return kept, init


def curve_summary(out):
    """Per variant, task and setting: the untrained network, the kept checkpoint (the
    run's best epoch by ``valid_acc``) and the last epoch, paired over clips and seeds."""
    from sklearn_hallu.model_selection import paired_clip_gain

    by_variant = {}
    all_runs = transfer_runs(out)
    for run in all_runs:
        by_variant.setdefault(run["variant"], []).append(run)
    summary = {}
    for variant, runs in sorted(by_variant.items()):
        for task in _tasks(runs[0]):
            for n_way, k_shot in SETTINGS:
                key = f"{n_way}w{k_shot}s"
                init, kept, last, curves = [], [], [], []
                for r in runs:
                    h = {row["epoch"]: row for row in r["history"]}
                    k, i = kept_and_untrained(r, all_runs, task, key)
                    init.append(i)
                    kept.append(k)
                    last.append(np.asarray(h[max(h)][f"xfer_{task}_{key}"]))
                    curves.append({e: 100 * np.mean(h[e][f"xfer_{task}_{key}"]) for e in h
                                   if h[e].get(f"xfer_{task}_{key}") is not None})
                kept_gain = paired_clip_gain(list(zip(kept, init)))
                last_gain = paired_clip_gain(list(zip(last, init)))
                summary.setdefault(variant, {}).setdefault(task, {})[key] = {
                    "seeds": [r["seed"] for r in runs],
                    "best_epochs": [r["best_epoch"] for r in runs],
                    "untrained": 100 * float(np.mean(init)),
                    "kept": 100 * float(np.mean(kept)), "last": 100 * float(np.mean(last)),
                    "kept_gain": kept_gain["gain"], "kept_ci95_clips": kept_gain["ci95_clips"],
                    "kept_per_seed": list(kept_gain["per_seed"]),
                    "last_gain": last_gain["gain"], "last_ci95_clips": last_gain["ci95_clips"],
                    "curve_epochs": (common := sorted(set.intersection(
                        *(set(c) for c in curves)))),
                    "curve": [round(float(np.mean([c[e] for c in curves])), 2)
                              for e in common],
                }
    return summary


def curve_markdown(summary, command):
    lines = ["# Transfer curves: off-domain few-shot accuracy during training on ESC-50", "",
             f"Command: `{command}`", "",
             "Untrained: the run's network before its first step (same seed; for a "
             "pre-trained variant, the same seed's run without pre-training: the same initial "
             "weights). Kept: the "
             "checkpoint the run keeps (best `valid_acc` on ESC-50's validation classes). "
             "Gains are paired on the same clips and episodes: points ± 95% CI over the clips "
             "(seeds averaged per clip). Peak: the mean curve's maximum and its epoch.", "",
             "| variant | task | setting | seeds | untrained | kept | kept - untrained "
             "| last - untrained | peak (epoch) |", "|---|---|---|---|---|---|---|---|---|"]
    for variant, tasks in summary.items():
        for task, settings in tasks.items():
            for key, r in settings.items():
                peak = int(np.argmax(r["curve"]))
                peak_epoch = r["curve_epochs"][peak]
                lines.append(
                    f"| {variant} | {task} | {key} | {len(r['seeds'])} | {r['untrained']:.2f} "
                    f"| {r['kept']:.2f} | {r['kept_gain']:+.2f} ± {r['kept_ci95_clips']:.2f} "
                    f"| {r['last_gain']:+.2f} ± {r['last_ci95_clips']:.2f} "
                    f"| {r['curve'][peak]:.2f} ({peak_epoch}) |")
    return "\n".join(lines) + "\n"


def plot_curves(summary, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    tasks = sorted({t for v in summary.values() for t in v})
    fig, axes = plt.subplots(1, 2 * len(tasks), figsize=(5 * 2 * len(tasks), 3.6),
                             squeeze=False)
    for i, (task, key) in enumerate((t, k) for t in tasks for k in ("5w1s", "5w5s")):
        ax = axes[0, i]
        for j, (variant, per_task) in enumerate(summary.items()):
            r = per_task.get(task, {}).get(key)
            if r is None:
                continue
            ax.plot(r["curve_epochs"], r["curve"], color=f"C{j}", marker=".", label=variant)
            ax.axhline(r["untrained"], color=f"C{j}", ls=":", lw=1)
        ax.set(title=f"{task}, {key}", xlabel="epoch", ylabel="accuracy (%)")
        ax.legend(fontsize=7)
    fig.suptitle("Off-domain accuracy while training on ESC-50 (dotted: untrained)")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main(argv=None):
    import argparse
    import json

    p = argparse.ArgumentParser(prog="python -m research.transfer.curve",
                                description="Summarise the transfer curves of ablation runs.")
    p.add_argument("--out", required=True, help="an ablation --out folder (runs/*.json)")
    args = p.parse_args(argv)
    summary = curve_summary(args.out)
    if not summary:
        raise SystemExit(f"no run in {args.out}/runs has transfer curves: run "
                         "python -m research.ablation run ... --transfer-curve DIR ...")
    command = command_line("research.transfer.curve", argv)
    out = Path(args.out)
    (out / "transfer_curves.json").write_text(json.dumps(summary, indent=1))
    (out / "transfer_curves.md").write_text(curve_markdown(summary, command))
    plot_curves(summary, out / "transfer_curves.png")
    print(curve_markdown(summary, command))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
