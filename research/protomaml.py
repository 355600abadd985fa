"""First-order MAML meta-training of the prototypical network (issue 23 lever; its one-seed
screen diverged: ``research/results/fomaml/runs/base_fomaml_seed0.json``).

Zhuang, Peeters and Richard (MLSP 2024, arXiv 2410.05302) fine-tune a prototypical network
on each test episode's support set (rotating pseudo-queries drawn from the support) and
report that it pays only when training prepares the network for it: MAML-Proto wraps the
episode loss in first-order MAML whose inner loop is that same fine-tuning. Their released
code (``zdsy/proto-MAML``) adapts every parameter with plain gradient steps (inner learning
rate 0.2, 8 steps of K-1 rotations), first-order, Adam 1e-3 outside with 10 episodes per
outer step, batch norm on batch statistics throughout; far more compute than this CPU has.

Here, fitted to the library's recipe: each training episode (after the per-clip time
shift) fine-tunes a copy of the encoder on its support clips with ``steps`` plain SGD steps
of learning rate ``inner_lr``, step ``t`` taking the ``t mod K``-th support clip of each class
as the pseudo-query and the others as the prototypes (one shot: a time-shifted copy), as
``research.finetune`` does at prediction (there with ``--lr INNER_LR --momentum 0``, batch
norm frozen in both). The episode's prototypical loss (supports and queries, the library's
loss) is then taken with the adapted copy, and its gradient with respect to the adapted
weights is applied to the encoder's own (first-order: no gradient through the inner steps);
the library's optimizer (SGD, momentum 0.9) makes the outer step. The copy's batch-norm
running statistics, updated by that forward pass only (those of the inner steps, which
batch statistics move, are reset first), are copied back: the encoder's statistics move
once per episode, as in plain training.

:class:`FirstOrderMAML` replaces the net's training step when training begins, as
``research/supcon.py`` does. One-view baseline without ``spec_augment`` only. The cost per
episode is about ``1 + steps / 2`` baseline steps when ``k_shot == n_query`` (the library's
5 and 5: each inner step embeds the support half of the episode).
"""

from __future__ import annotations

import argparse
import copy
import json
from pathlib import Path

import torch
from skorch.dataset import unpack_data
from skorch.utils import to_tensor

from research._cli import command_line
from research.finetune import pseudo_query_loss
from research.supcon import OwnTrainingStep
from sklearn_hallu.model_selection import paired_clip_gain

__all__ = ["FirstOrderMAML", "inner_adapt", "compare"]


def inner_adapt(module, support, steps, lr, shift_rng, mean_distance=False,
                batch_stats=False):
    """Fine-tune ``module`` in place on ``support`` (n_way, k_shot, ...) with ``steps`` plain
    SGD steps of rotating pseudo-queries; returns the inner losses.

    ``mean_distance``: squared distances averaged over the embedding's dimensions (the
    authors'), else summed (the library's). ``batch_stats``: batch norm on each step's batch
    statistics (the authors'; the pseudo-supports and pseudo-queries in one batch), else
    frozen on the running statistics (evaluation mode)."""
    module.train(batch_stats)
    opt = torch.optim.SGD(module.parameters(), lr=lr)
    losses = []
    for t in range(steps):
        loss = pseudo_query_loss(module, support, t, shift_rng, mean_distance)
        if not torch.isfinite(loss):
            raise FloatingPointError(
                f"first-order MAML: the inner loss is {loss.item()} at step {t} (inner_lr="
                f"{lr}, mean_distance={mean_distance}, batch_stats={batch_stats}); the inner "
                "loop diverged. With summed distances and batch norm frozen, lr 0.01 "
                "diverges within the first epoch (research/results/fomaml): use "
                "mean_distance=True and batch_stats=True, the authors' choices")
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    return losses


class FirstOrderMAML(OwnTrainingStep):
    """At the start of training, make each training step a first-order MAML step.

    Parameters
    ----------
    steps : int
        Inner fine-tuning steps per episode.
    inner_lr : float
        Learning rate of the inner plain SGD.
    mean_distance, batch_stats : bool
        The inner loop's distance and batch norm (:func:`inner_adapt`).
    """

    def __init__(self, steps=5, inner_lr=0.01, mean_distance=False, batch_stats=False):
        if int(steps) != steps or steps < 1:
            raise ValueError(f"steps must be a positive integer, got {steps!r}")
        if not inner_lr > 0:
            raise ValueError(f"inner_lr must be a positive number, got {inner_lr!r}")
        self.steps, self.inner_lr = int(steps), float(inner_lr)
        self.mean_distance, self.batch_stats = bool(mean_distance), bool(batch_stats)

    def on_train_begin(self, net, **kwargs):
        self.check_plain_baseline(net)
        spec, rng = net.spec, net.episode_rng
        n_way, k_shot = spec["n_way"], spec["k_shot"]

        def train_step_single(batch, **fit_params):
            net._set_training(True)
            Xi, yi = unpack_data(batch)
            Xi = self.shifted(net, Xi, rng)
            support = Xi.reshape((n_way, -1) + Xi.shape[1:])[:, :k_shot]
            fast = copy.deepcopy(net.module_)
            inner_adapt(fast, support, self.steps, self.inner_lr, rng, self.mean_distance,
                        self.batch_stats)
            with torch.no_grad():  # the inner steps move weights, not the statistics
                for theirs, mine in zip(fast.buffers(), net.module_.buffers()):
                    theirs.copy_(mine)
            fast.train()
            emb = fast(Xi)
            loss = net.get_loss(emb, to_tensor(yi, device=net.device), X=Xi, training=True)
            fast_params = [p for p in fast.parameters() if p.requires_grad]
            grads = torch.autograd.grad(loss, fast_params)
            own = [p for p in net.module_.parameters() if p.requires_grad]
            for p, g in zip(own, grads):
                p.grad = g.detach().clone() if p.grad is None else p.grad + g.detach()
            with torch.no_grad():
                for mine, theirs in zip(net.module_.buffers(), fast.buffers()):
                    mine.copy_(theirs)
            net.history.record_batch("train_acc", net.criterion_.last_accuracy)
            return {"loss": loss.detach(), "y_pred": emb.detach()}

        net.train_step_single = train_step_single


def _per_clip(path, variant, steps):
    """``{(split, setting): {seed: per-clip accuracy}}`` at ``steps`` of a finetune JSON."""
    results = json.loads(Path(path).read_text())["results"]
    if variant not in results:
        raise SystemExit(f"{path}: no {variant} (it has {sorted(results)})")
    out = {}
    for split, keys in results[variant].items():
        for key, by_seed in keys.items():
            for seed, rec in by_seed.items():
                if str(steps) not in rec["per_clip"]:
                    raise SystemExit(f"{path}: {variant} {split} {key} seed {seed} has no "
                                     f"score after {steps} steps (it has "
                                     f"{sorted(rec['per_clip'], key=int)})")
                out.setdefault((split, key), {})[seed] = rec["per_clip"][str(steps)]
    return out


def compare(rows, reference):
    """Markdown of each ``(name, path, variant, steps)`` of ``rows`` paired per clip against
    ``reference`` (the same form), seed by seed on the same clips and episodes."""
    ref = _per_clip(*reference[1:])
    lines = [f"Against: {reference[0]}. Gain: points ± 95% CI over the clips, paired on the "
             "same clips and episodes (research.finetune's fixed episodes).", "",
             "| system | split | setting | seeds | system | reference | gain |",
             "|---|---|---|---|---|---|---|"]
    for name, *src in rows:
        mine = _per_clip(*src)
        for key in sorted(ref):
            seeds = sorted(set(ref[key]) & set(mine.get(key, {})), key=int)
            if not seeds:
                continue
            g = paired_clip_gain([(mine[key][s], ref[key][s]) for s in seeds])
            acc = [100 * sum(sum(d[key][s]) / len(d[key][s]) for s in seeds) / len(seeds)
                   for d in (mine, ref)]
            lines.append(f"| {name} | {key[0]} | {key[1]} | {len(seeds)} | {acc[0]:.2f} | "
                         f"{acc[1]:.2f} | {g['gain']:+.2f} ± {g['ci95_clips']:.2f} |")
    return "\n".join(lines) + "\n"


def main(argv=None):
    p = argparse.ArgumentParser(
        prog="python -m research.protomaml",
        description="Pair systems scored by research.finetune (a model at a step count) "
                    "against a reference system, per clip.")
    p.add_argument("--reference", required=True, metavar="NAME=JSON:VARIANT:STEPS")
    p.add_argument("--systems", nargs="+", required=True, metavar="NAME=JSON:VARIANT:STEPS")
    p.add_argument("--out", required=True, help="the markdown file to write")

    def parse(text):
        name, _, rest = text.partition("=")
        path, variant, steps = rest.rsplit(":", 2)
        return name, path, variant, int(steps)

    args = p.parse_args(argv)
    command = command_line("research.protomaml", argv)
    md = (f"# Fine-tuned systems against a reference\n\nCommand: `{command}`\n\n"
          + compare([parse(t) for t in args.systems], parse(args.reference)))
    Path(args.out).write_text(md)
    print(md)


if __name__ == "__main__":
    main()
