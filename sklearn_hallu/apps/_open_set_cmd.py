"""``sklearn-hallu evaluate --open-set``: open-set episodes on the closed-set report's embeddings.

For each ``--k-shot``, :class:`~sklearn_hallu.model_selection.OpenSetScorer` draws
``--episodes`` episodes of ``--n-way`` known classes and other classes of the
folder as unknowns; the table (or the ``"open_set"`` key of the JSON) gives the
AUROC, the known accuracy at ``--false-alarm-rate`` and the rejection rates at
the leave-one-out threshold, in percent with 95% intervals over episodes.
"""

from __future__ import annotations

import math

from ._cli_files import CLIError

__all__ = ["OPEN_SET_QUERIES", "check_open_set", "open_set_results", "open_set_markdown",
           "open_set_json"]

#: Queries drawn from each known and each unknown class of an episode.
OPEN_SET_QUERIES = 5


def check_open_set(args, n_classes):
    """Refuse, before any clip is read, a folder with no class left over for unknowns."""
    if n_classes <= args.n_way:
        raise CLIError(
            f"--open-set needs classes besides the --n-way {args.n_way} known ones to serve "
            f"as unknowns, but {args.data!r} holds {n_classes} classes; lower --n-way to at "
            f"most {n_classes - 1}, add class folders, or leave out --open-set"
            if n_classes > 2 else
            f"--open-set needs at least 3 classes (2 known, 1 unknown), but {args.data!r} "
            f"holds {n_classes}; add class folders or leave out --open-set")


def open_set_results(emb, labels, args):
    """``{setting: OpenSetResult}``, one setting per ``--k-shot``, on embeddings ``emb``."""
    from ..model_selection import OpenSetScorer

    return {
        f"{args.n_way}-way {k}-shot": OpenSetScorer(
            args.n_way, k, n_query=OPEN_SET_QUERIES, n_episodes=args.episodes,
            false_alarm_rate=args.false_alarm_rate, random_state=args.seed,
        ).evaluate_embeddings(emb, labels)
        for k in args.k_shot
    }


def _pct(mean, ci):
    return "n/a" if math.isnan(mean) else f"{100 * mean:.2f} ±{100 * ci:.2f}"


def open_set_markdown(results, false_alarm_rate):
    """The open-set table: one row per setting, percent ±95% CI over episodes."""
    lines = [f"| setting | AUROC (%) | known acc. at {100 * false_alarm_rate:g}% false alarms "
             "(%) | known rejected (%) | unknown rejected (%) |", "|---|---|---|---|---|"]
    for name, r in results.items():
        cells = [_pct(getattr(r, m), r.ci95(m)) for m in
                 ("auroc", "known_accuracy_at_far", "known_rejected", "unknown_rejected")]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def open_set_json(results):
    """``{setting: OpenSetResult.as_dict()}`` with the metrics in percent (None for n/a)."""
    fractions = {"n_way", "k_shot", "n_unknown_way", "n_episodes", "false_alarm_rate",
                 "quantile"}
    return {name: {k: (v if k in fractions or v is None else 100 * v)
                   for k, v in r.as_dict().items()}
            for name, r in results.items()}
