"""Goal 3's picture: HalluAudio and the baseline, trained and untrained, off-domain at 8
shifts under centred-L2 and the pool's whitening (rule G3, ``RULES_hallu_transfer.md``).

Reads the two readings' json files (the same groups, pool and episodes per seed), draws
nothing new::

    python research/results/rank/logs/hallu_bars.py             # the default recipe (G3)
    python research/results/rank/logs/hallu_bars.py time_pool   # the time_pool one (G3b)
    python research/results/rank/logs/hallu_bars.py long2x      # long2x_tpool_tta8 (G3c)

writes ``research/results/rank/hallu_transfer_bars.png`` (``hallu_tpool_transfer_bars.png``,
``research/results/long2x/hallu_transfer_bars.png``).
"""

import json
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

HERE = Path(__file__).resolve().parents[2]  # research/results
NORMS = {"centred_l2+tta8": "centred-L2", "whitened_l2@all+tta8": "whitened (pool of 375)"}
# recipe: (HalluAudio's reading, the baseline's reading, the figure: under research/results;
# the title's words)
RECIPES = {
    "default": ("rank/hallu_transfer", "rank/pool_size_cpu_headline_late_tta_xeon",
                "rank/hallu_transfer_bars", "the default models"),
    "time_pool": ("rank/hallu_tpool_transfer", "rank/pool_size_cpu_headline_tpool_tta",
                  "rank/hallu_tpool_transfer_bars", "the time_pool=(4, 4, 1) models"),
    "long2x": ("long2x/hallu_transfer", "long2x/pool_transfer",
               "long2x/hallu_transfer_bars", "the long2x_tpool_tta8 models"),
}


def accuracies(path, variant):
    """``{(task, norm, setting): (trained, untrained)}`` of one reading."""
    rows = json.loads(Path(path).read_text())["summary"]
    return {(r["split"].split(" ")[0], r["norm"], r["setting"]): (r["trained"], r["untrained"])
            for r in rows if r["variant"] == variant and r["norm"] in NORMS}


def main(recipe="default"):
    if recipe not in RECIPES:
        raise SystemExit(f"recipe {recipe!r}: one of {sorted(RECIPES)}")
    hallu_file, base_file, figure, words = RECIPES[recipe]
    hallu = accuracies(HERE / f"{hallu_file}.json", "halluaudio")
    base = accuracies(HERE / f"{base_file}.json", "baseline")
    keys = sorted(hallu)
    fig, axes = plt.subplots(1, len(keys) // 2, figsize=(3.2 * len(keys) // 2, 3.4),
                             sharey=False)
    panels = sorted({(t, s) for t, _, s in keys})
    for ax, (task, setting) in zip(axes, panels):
        for j, norm in enumerate(NORMS):
            bt, bu = base[(task, norm, setting)]
            ht, hu = hallu[(task, norm, setting)]
            x = 3 * j
            ax.bar([x - 0.6, x - 0.2], [bu, bt], 0.4, color=["#bbbbbb", "C0"])
            ax.bar([x + 0.2, x + 0.6], [hu, ht], 0.4, color=["#eeccaa", "C1"])
        ax.set_xticks([0, 3], [NORMS[n] for n in NORMS], fontsize=7)
        ax.set_title(f"{task}, {setting}", fontsize=9)
        lo = min(min(v) for d in (base, hallu) for k, v in d.items()
                 if k[0] == task and k[2] == setting)
        ax.set_ylim(lo - 8, 100)
        ax.set_ylabel("accuracy (%)")
    handles = [plt.Rectangle((0, 0), 1, 1, color=c) for c in ("#bbbbbb", "C0", "#eeccaa", "C1")]
    fig.legend(handles, ["baseline untrained", "baseline trained", "HalluAudio untrained",
                         "HalluAudio trained"], loc="lower center", ncol=4, fontsize=8)
    fig.suptitle(f"Off-domain, 5-way, 8 shifts: {words} and their untrained twins "
                 "(5 seeds)", fontsize=10)
    fig.tight_layout(rect=(0, 0.08, 1, 0.93))
    out = HERE / f"{figure}.png"
    fig.savefig(out, dpi=110)
    print(f"wrote {out}")


if __name__ == "__main__":
    main(*sys.argv[1:2])
