"""Across-seed numbers of a reproduction: means, seed intervals, paired gains, Figure 3.

Both a run (``reproduce``) and ``--stage merge`` build a model's results entry
with :func:`model_entry`, from the per-seed, per-clip test results.
"""

from __future__ import annotations

import numpy as np

from sklearn_hallu.model_selection import clip_ci95, paired_clip_gain, seeds_ci95

from .paper import SETTING_NAMES

__all__ = ["mean_over_seeds", "model_entry", "paired_gain", "k_shot_curve"]


def mean_over_seeds(per_seed):
    """Mean accuracy over seeds and its confidence intervals, per setting.

    Parameters
    ----------
    per_seed : list of dict
        The entries of :func:`evaluate_model`.

    Returns
    -------
    dict
        Per setting: ``accuracy``; ``ci95``, the mean of the seeds' paper-style
        intervals over queries (kept to compare with the paper; too narrow, since
        passes re-use the same clips); ``ci95_clips``, over the clips' accuracies
        averaged over seeds; ``ci95_seeds``, a t-interval over the seeds' means
        (NaN for one seed); ``per_seed``; ``seed_std``.
    """
    out = {}
    for s in SETTING_NAMES:
        accs = np.array([p["test"][s]["accuracy"] for p in per_seed])
        cis = np.array([p["test"][s]["ci95"] for p in per_seed])
        out[s] = {"accuracy": float(accs.mean()), "ci95": float(cis.mean()),
                  "ci95_seeds": seeds_ci95(accs), "per_seed": accs.tolist(),
                  "seed_std": float(accs.std(ddof=1)) if len(accs) > 1 else None}
        clips = [p["test"][s].get("per_clip") for p in per_seed]
        if all(c is not None for c in clips):
            out[s]["ci95_clips"] = 100 * clip_ci95(np.mean(clips, axis=0))
    return out


def model_entry(per_seed, base_per_seed=None, untrained=None):
    """A model's entry of results.json from its per-seed test entries.

    One place for what a run writes after each model and what ``--stage merge``
    rebuilds, so the two cannot drift apart.

    Parameters
    ----------
    per_seed : list of dict
        The model's entries of :func:`evaluate_model`.
    base_per_seed : list of dict or None, default=None
        The baseline's entries (for a model other than the baseline): adds the
        paired gain, and the gains of Figure 3.
    untrained : list of dict or None, default=None
        The untrained floors (``--floor``).

    Returns
    -------
    dict
        ``per_seed``, ``mean``, ``untrained``, ``k_shot`` (and ``paired_gain``).
    """
    entry = {"per_seed": per_seed, "mean": mean_over_seeds(per_seed),
             "untrained": untrained or None, "k_shot": k_shot_curve(per_seed, base_per_seed)}
    if base_per_seed:
        entry["paired_gain"] = paired_gain(per_seed, base_per_seed)
    return entry


def paired_gain(per_seed, base_per_seed):
    """Per setting, a model's gain over the baseline on the same clips and episodes.

    Both models must have been tested with the same seeds (the test episodes
    depend only on the seed), so each clip's accuracies pair up.

    Parameters
    ----------
    per_seed : list of dict
        The model's entries of :func:`evaluate_model`.
    base_per_seed : list of dict
        The baseline's entries.

    Returns
    -------
    dict or None
        Per setting: ``gain`` (points), ``ci95_clips`` over the clips' paired
        differences averaged over the common seeds, ``ci95_seeds`` a t-interval
        over the ``per_seed`` gains (the seed spread); ``None``
        when no seed has per-clip results for both.
    """
    base = {b["seed"]: b for b in base_per_seed}
    common = [p for p in per_seed if p["seed"] in base
              and "per_clip" in p["test"][SETTING_NAMES[0]]
              and "per_clip" in base[p["seed"]]["test"][SETTING_NAMES[0]]]
    if not common:
        return None
    return {s: {**paired_clip_gain([(p["test"][s]["per_clip"],
                                       base[p["seed"]]["test"][s]["per_clip"]) for p in common]),
                "seeds": [p["seed"] for p in common]}
            for s in SETTING_NAMES}


def k_shot_curve(per_seed, base_per_seed=None):
    """Figure 3's numbers: 5-way K-shot accuracy per K, averaged over the seeds.

    Parameters
    ----------
    per_seed : list of dict
        The model's entries of :func:`evaluate_model` (with ``k_shot``).
    base_per_seed : list of dict or None, default=None
        The baseline's entries; with them each K also gets the paired gain.

    Returns
    -------
    dict or None
        Per setting name (``"5-way 1-shot"`` ... ``"5-way 5-shot"``): ``accuracy``,
        ``ci95_clips`` (over the clips' accuracies averaged over the seeds),
        ``ci95_seeds``, ``per_seed`` and, with a baseline, ``gain`` and
        ``gain_ci95_clips`` over the clips' paired differences. ``None`` when an
        entry has no curve (a results file from before the curve existed).
    """
    if not per_seed or any("k_shot" not in p for p in per_seed):
        return None
    base = {b["seed"]: b for b in base_per_seed or [] if "k_shot" in b}
    out = {}
    for name in per_seed[0]["k_shot"]:
        accs = np.array([p["k_shot"][name]["accuracy"] for p in per_seed])
        clips = np.mean([p["k_shot"][name]["per_clip"] for p in per_seed], axis=0)
        row = {"accuracy": float(accs.mean()), "ci95_clips": 100 * clip_ci95(clips),
               "ci95_seeds": seeds_ci95(accs), "per_seed": accs.tolist()}
        common = [p for p in per_seed if p["seed"] in base]
        if common and base_per_seed is not per_seed:
            g = paired_clip_gain([(p["k_shot"][name]["per_clip"],
                                    base[p["seed"]]["k_shot"][name]["per_clip"])
                                   for p in common])
            row["gain"], row["gain_ci95_clips"] = g["gain"], g["ci95_clips"]
        out[name] = row
    return out
