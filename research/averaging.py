"""The average of the weights along training instead of the best epoch's (issue 23, goals
1 and 2; rule ``research/results/averaging/RULES.md``).

Today's recipe keeps the weights of the epoch with the best validation score, read on five
validation classes: the kept epoch jumps between seeds (12, 39 and 57 for three seeds of one
lever) and one seed of the README's headline moved 3 points through it. Averaging the
weights along the trajectory (stochastic weight averaging, Izmailov et al. 2018; the
average of the latest checkpoints, Kaddour 2022) keeps a point in the middle of the region
that the late epochs visit instead of one of its noisy corners, which those papers find
generalises better, and it reads the validation classes for nothing.

:class:`WeightAverage` (variant ``base_swa``)
    Training is unchanged (the same episodes, steps and schedule; nothing draws from the
    run's random streams). After every epoch from ``start`` on, the parameters join an equal-
    weight running mean. At the end of training the mean replaces the weights the best-epoch
    rule restored, and the batch-norm statistics, which do not belong to the averaged weights,
    are estimated again in training mode over one epoch of training episodes (the net's
    ``n_episodes`` episodes of its ``n_way``, ``k_shot`` and ``n_query``, each clip
    circularly shifted as in training; episodes and shifts from a stream seeded from a copy
    of the run's, which is left untouched), as a cumulative mean: batches like those that
    made the statistics of the best-epoch weights.
    ``start="first_drop"``: the first epoch after the first learning-rate drop.

``WeightAverage(hold_lr=f)`` (variant ``base_swa_hold``, rule
``research/results/averaging/RULES_hold.md``)
    SWA as its authors run it: from ``start`` on, the learning rate is held at ``f`` times
    the initial one to the end (the run's later drops are skipped), so that the averaged
    epochs still move. ``base_swa`` averaged epochs at 1/10 and then 1/100 of the lr, and
    its mean came out as the last epoch's network (``same_trajectory.md``); holding the
    lr at 1/10 from the first drop keeps the trajectory exploring while the mean is taken.
    Everything before ``start`` is ``base_ref``'s training, step for step.

It replaces nothing in the library: a callback of a ``research.ablation`` run, as
``research/depth.py`` is.

``python -m research.averaging --out DIR --variant V --seeds ...`` (exploratory, no rule)
scores each saved model of ``DIR`` on the probe classes exactly as the run scored every
epoch, and pairs it with its own run's best and last epochs: the averaging's effect on
one trajectory, without the noise between two training runs. For a best-epoch run the
"best" row is zero by construction (checked on ``base_ref``: 0.00 ± 0.00).
"""

from __future__ import annotations

import copy

import numpy as np
import torch
from skorch.callbacks import Callback, EarlyStopping

from research._cli import command_line
from research.supcon import OwnTrainingStep
from research.transfer.layers import gain_cell, paper_per_clip
from sklearn_hallu.sampling import EpisodeSampler

__all__ = ["WeightAverage", "reestimate_batch_norm"]


def reestimate_batch_norm(module, batches, forward):
    """Reset ``module``'s batch-norm statistics and estimate them again as the cumulative
    mean over ``forward(batch)`` for each of ``batches``, in training mode, no gradients.

    Returns the number of batch-norm layers re-estimated.
    """
    norms = [m for m in module.modules() if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)]
    if not norms:
        return 0
    momenta = [m.momentum for m in norms]
    was_training = module.training
    for m in norms:
        m.reset_running_stats()
        m.momentum = None  # a cumulative mean over the batches
    module.train()
    try:
        with torch.no_grad():
            for batch in batches:
                forward(batch)
    finally:
        for m, momentum in zip(norms, momenta):
            m.momentum = momentum
        module.train(was_training)
    return len(norms)


class WeightAverage(Callback):
    """Keep the equal-weight mean of the parameters after every epoch from ``start`` on, and
    end training with it (batch-norm statistics estimated again on the training clips).

    Parameters
    ----------
    start : "first_drop" or int, default="first_drop"
        The first epoch (1-based) whose weights join the mean; ``"first_drop"``: the epoch
        after the first learning-rate drop (``lr_step + 1``).
    hold_lr : float in (0, 1] or None, default=None
        From ``start`` to the end, every parameter group's learning rate is ``hold_lr``
        times its initial one (the step schedule's later drops are skipped). ``None``:
        the run's schedule is left as it is (training unchanged).

    Attributes
    ----------
    n_averaged_ : int
        Epochs in the mean.
    first_epoch_ : int
        The first of them.
    n_batch_norm_ : int
        Batch-norm layers whose statistics were estimated again.
    """

    def __init__(self, start="first_drop", hold_lr=None):
        if start != "first_drop" and (isinstance(start, bool) or not isinstance(start, int)
                                      or start < 1):
            raise ValueError(f"start must be 'first_drop' or an epoch >= 1, got {start!r}")
        if hold_lr is not None and (isinstance(hold_lr, bool)
                                    or not isinstance(hold_lr, (int, float))
                                    or not 0 < hold_lr <= 1):
            raise ValueError("hold_lr must be None or a fraction of the initial learning "
                             f"rate in (0, 1], got {hold_lr!r}")
        self.start = start
        self.hold_lr = hold_lr

    def on_train_begin(self, net, X=None, y=None, **kwargs):
        OwnTrainingStep.check_plain_baseline(self, net, raw_distances=False)
        stops = [cb.patience for _, cb in net.callbacks_
                 if isinstance(cb, EarlyStopping) and cb.patience < net.spec["max_epochs"]]
        if stops:
            raise ValueError("WeightAverage averages up to the last epoch: train without "
                             f"early stopping (patience=None), got patience={stops[0]}")
        self.first_epoch_ = (net.spec["lr_step"] + 1 if self.start == "first_drop"
                             else self.start)
        if self.first_epoch_ > net.spec["max_epochs"]:
            raise ValueError(f"WeightAverage starts at epoch {self.first_epoch_}, after the "
                             f"last ({net.spec['max_epochs']}): lower start or train longer")
        self.n_averaged_, self._mean, self._X, self._y = 0, None, X, y

    def on_epoch_begin(self, net, **kwargs):
        """Hold the learning rate from ``start`` on (the step scheduler, which acts at the end
        of each epoch, may have lowered it; this runs before the epoch's first step)."""
        if self.hold_lr is None or len(net.history) < self.first_epoch_:
            return
        for group in net.optimizer_.param_groups:
            group["lr"] = group.get("initial_lr", net.lr) * self.hold_lr
        self._held = net.optimizer_.param_groups[0]["lr"]

    def on_epoch_end(self, net, **kwargs):
        if len(net.history) < self.first_epoch_:
            return
        if self.hold_lr is not None and "event_lr" in net.history[-1]:
            # the scheduler logged the lr it had set, before this epoch's hold
            net.history.record("event_lr", self._held)
        params = dict(net.module_.named_parameters())
        with torch.no_grad():
            if self._mean is None:
                self._mean = {k: p.detach().clone() for k, p in params.items()}
            else:
                n = self.n_averaged_
                for k, p in params.items():
                    self._mean[k].mul_(n / (n + 1)).add_(p.detach(), alpha=1 / (n + 1))
        self.n_averaged_ += 1

    def on_train_end(self, net, **kwargs):
        """Runs after the best-epoch rule restored its weights: the mean replaces them."""
        if self._mean is not None:
            with torch.no_grad():
                for k, p in net.module_.named_parameters():
                    p.copy_(self._mean[k])
            self.n_batch_norm_ = reestimate_batch_norm(
                net.module_, self._episodes(net), lambda xb: net.infer(xb))
            print(f"Weights: the mean of epochs {self.first_epoch_}-"
                  f"{self.first_epoch_ + self.n_averaged_ - 1} ({self.n_averaged_} epochs); "
                  f"batch norm estimated again on {net.spec['n_episodes']} training "
                  "episodes.")
        self._mean = self._X = self._y = None  # not saved with the model

    def _episodes(self, net):
        """One epoch of training-like episodes, each clip shifted, from a copy of the run's
        stream (the run's own stream is not advanced)."""
        rng = np.random.RandomState(int(copy.deepcopy(net.episode_rng).randint(2**31 - 1)))
        spec = net.spec
        sampler = EpisodeSampler(self._y, spec["n_way"], spec["k_shot"], spec["n_query"],
                                 spec["n_episodes"], random_state=rng)
        for idx in sampler:
            yield OwnTrainingStep.shifted(net, self._X[idx], rng)


# --- exploratory: the average against the best and the last epoch of its own trajectory ---

#: the epochs of a run's own trajectory the average is paired with
EPOCHS = ("best", "last")


def probe_per_clip(model, X, y, passes, episode_seed):
    """Per-clip accuracies of a saved model on clips ``X`` as ``research.ablation``'s probe
    scorer reads them after every epoch: raw embeddings, one view, no shift, the paper's
    protocol, ``passes`` passes of the episodes of ``episode_seed``."""
    clf = model[-1] if hasattr(model, "steps") else model
    emb = clf.net_.forward(X[:, None] if X.ndim == 3 else X).numpy()
    return paper_per_clip(emb, y, passes, episode_seed)


def epoch_of(run, which):
    """The 1-based epoch ``which`` ("best": the best-epoch rule's, "last") of a run record."""
    return run["best_epoch"] if which == "best" else run["history"][-1]["epoch"]


def trajectory_rows(scored):
    """Paired rows, the kept model minus an epoch of its own trajectory, per setting.

    ``scored``: ``{seed: (run record, {setting: per-clip accuracies of the kept model})}``.
    """
    from sklearn_hallu.model_selection import paired_clip_gain

    runs = [scored[s] for s in sorted(scored)]
    rows = []
    for which in EPOCHS:
        epochs = [epoch_of(run, which) for run, _ in runs]
        for setting in ("5w1s", "5w5s"):
            pairs = [(np.asarray(kept[setting]),
                      np.asarray(run["history"][e - 1][f"probe_{setting}"]))
                     for (run, kept), e in zip(runs, epochs)]
            g = paired_clip_gain(pairs)
            rows.append({"against": which, "setting": setting, "seeds": sorted(scored),
                         "kept": 100 * float(np.mean([a.mean() for a, _ in pairs])),
                         "epoch": 100 * float(np.mean([b.mean() for _, b in pairs])),
                         "gain": g["gain"], "ci95_clips": g["ci95_clips"],
                         "ci95_seeds": g["ci95_seeds"], "per_seed": list(g["per_seed"]),
                         "epochs": epochs})
    return rows


def trajectory_markdown(rows, command):
    lines = ["# The kept model against epochs of its own training run (probe classes)", "",
             f"Command: `{command}`", "",
             "Probe classes, scored as the runs score them after every epoch (raw "
             "embeddings, no shift, the same episodes): the kept model (its run's "
             "`per_clip`-style score, computed again from the saved model) minus the "
             "same run's best epoch (the best-epoch rule's pick) or last epoch, paired "
             "on the same clips and episodes; points ± 95% CI over the clips; ± 95% "
             "t-interval over the seeds.", "",
             "| against | setting | seeds | kept | that epoch | gain | epochs |",
             "|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['against']} | {r['setting']} | {len(r['seeds'])} | "
                     f"{r['kept']:.2f} | {r['epoch']:.2f} | {gain_cell(r)} | "
                     f"{', '.join(map(str, r['epochs']))} |")
    return "\n".join(lines) + "\n"


def main(argv=None):
    """``python -m research.averaging --out DIR --variant V --seeds ...``: the saved models
    of ``DIR`` against the best and last epochs of their own runs on the probe classes."""
    import argparse
    import json
    from pathlib import Path

    from research.ablation import EPISODE_SEED, saved_run, training_clips
    from research.reproduce.features import log

    p = argparse.ArgumentParser(prog="python -m research.averaging",
                                description=main.__doc__.split("\n")[0])
    p.add_argument("--out", required=True, help="an ablation folder (runs/, models/)")
    p.add_argument("--variant", default="base_swa")
    p.add_argument("--seeds", nargs="+", type=int, required=True)
    p.add_argument("--features-cache", default=None)
    p.add_argument("--data-home", default=None)
    p.add_argument("--name", default="same_trajectory")
    args = p.parse_args(argv)
    out = Path(args.out)
    y, split, features, keep = training_clips(args.data_home, args.features_cache)
    X, scored = None, {}
    for seed in args.seeds:
        run, model, probe = saved_run(out, args.variant, seed, y, split)
        if y[probe].tolist() != run["probe_clip_target"]:
            raise SystemExit(f"seed {seed}: the probe clips differ from the run's")
        X = features(run["config"]["n_fft"], keep) if X is None else X
        scored[seed] = (run, probe_per_clip(model, X[probe], y[probe], run["probe_passes"],
                                            EPISODE_SEED + 1))
        log(f"{args.variant} seed {seed}: scored")
    rows = trajectory_rows(scored)
    command = command_line("research.averaging", argv)
    (out / f"{args.name}.json").write_text(json.dumps({"command": command, "rows": rows}))
    md = trajectory_markdown(rows, command)
    (out / f"{args.name}.md").write_text(md)
    print(md)


if __name__ == "__main__":
    main()
