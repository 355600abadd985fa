"""The reproduction's outputs: results.json, results.md and the figures."""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
from pathlib import Path

import numpy as np

from . import COMMAND
from .features import log
from .paper import MODEL_TITLES, PAPER_TABLES_FOR, SETTING_NAMES, paper_tables

__all__ = ["write_outputs", "markdown_table", "plot_outputs", "machine_info", "git_commit",
           "trained_elsewhere",
           "dataset_title"]


#: Environment variables that choose the CPU kernels torch, oneDNN and MKL run.
NUMERICS_ENV = ("ATEN_CPU_CAPABILITY", "ONEDNN_MAX_CPU_ISA", "DNNL_MAX_CPU_ISA", "MKL_CBWR",
                "MKL_ENABLE_INSTRUCTIONS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")
_ISA_FLAGS = ("avx2", "avx512f", "avx512_vnni", "avx512_bf16", "avx512_fp16", "amx_tile",
              "amx_bf16")


def cpu_numerics():
    """What decides a CPU run's floating-point sums: the processor, its instruction sets, the
    kernels torch dispatches to (``torch.backends.cpu.get_cpu_capability()``) and the
    environment variables that pin them (:data:`NUMERICS_ENV`)."""
    import torch

    model, flags = "unknown", set()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            key, _, value = line.partition(":")
            if key.strip() == "model name" and model == "unknown":
                model = value.strip()
            elif key.strip() == "flags" and not flags:
                flags = set(value.split())
    except OSError:
        pass
    return {"cpu": model, "isa": [f for f in _ISA_FLAGS if f in flags],
            "torch_cpu_capability": torch.backends.cpu.get_cpu_capability(),
            "numerics_env": {k: os.environ[k] for k in NUMERICS_ENV if k in os.environ}}


def machine_info(device):
    """Platform, Python, CPU count, torch version, device (and GPU name).

    Parameters
    ----------
    device : str
        The torch device of the run.

    Returns
    -------
    dict
        The description.
    """
    import torch

    info = {"platform": platform.platform(), "python": platform.python_version(),
            "cpu_count": os.cpu_count(), "torch": torch.__version__, "device": device,
            **cpu_numerics()}
    if device.startswith("cuda") and torch.cuda.is_available():
        info["gpu"] = torch.cuda.get_device_name(0)
    return info


def git_commit():
    """$SKLEARN_HALLU_COMMIT where set, else the checkout's commit, else "unknown".

    The variable wins: a copy of the code can sit inside a git tree that is not its
    own (a device machine's copy reported an older commit of the same project).
    """
    try:
        found = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True,
                               cwd=Path(__file__).parent, check=True).stdout.strip()
    except Exception:
        found = None
    given = os.environ.get("SKLEARN_HALLU_COMMIT")
    if given and found and given != found:
        log(f"commit: $SKLEARN_HALLU_COMMIT={given} recorded; git reports {found} here")
    return given or found or "unknown"


def write_outputs(results, out):
    """Write results.json, results.md and (with matplotlib) the figures into ``out``.

    Parameters
    ----------
    results : dict
        What :func:`~research.reproduce.run` collects.
    out : str or pathlib.Path
        Output folder.
    """
    out = Path(out)
    (out / "results.json").write_text(json.dumps(results, indent=1, default=_jsonable))
    (out / "results.md").write_text(markdown_table(results))
    try:
        plot_outputs(results, out)
    except ImportError:  # matplotlib is optional
        log("matplotlib missing: no figures (pip install matplotlib)")


def _jsonable(o):
    if isinstance(o, np.generic):
        return o.item()
    if isinstance(o, np.ndarray):
        return o.tolist()
    return str(o)


def markdown_table(results):
    """The results page in Markdown: our numbers beside the paper's, gains, sweep, importance.

    Parameters
    ----------
    results : dict
        What :func:`~research.reproduce.run` collects.

    Returns
    -------
    str
        The Markdown text.
    """
    cfg = results["config"]
    lines = [
        f"# HalluAudio on {dataset_title(results)}: our numbers beside the paper's",
        "",
        *([_KAGGLE18_NOTE] if _is_kaggle18(results) else []),
        f"Command: `{results['command']}`  ",
        f"Commit: {_listed(results['commit'], '`')}  ",
        *_trained_elsewhere_line(results),
        f"Machine: {_listed(results['machine'])}  ",
        *([f"Report redrawn from results.json by `{results['rendered_by']['command']}` at "
           f"commit `{results['rendered_by']['commit']}` (nothing retrained or retested)  "]
          if results.get("rendered_by") else []),
        *([f"Merged from {len(results['merged_from'])} runs (nothing retrained or "
           "retested; `--stage merge`): " + "; ".join(
               f"`{m['out']}` seeds {m['seeds']} at `{m['commit']}`"
               for m in results["merged_from"]) + "  "]
          if results.get("merged_from") else []),
        *([f"Features: read from a cache that stores them as {results['features_stored_as']} "
           "(rounded; the models train and test on float32 copies)  "]
          if results.get("features_stored_as", "float32") != "float32" else []),
        f"Wall time: {results['timings_s']['total'] / 60:.1f} min "
        + (f"summed over the {len(results['merged_from'])} merged runs (each features to "
           "report); " if results.get("merged_from") else "(features to report); ")
        + f"peak memory (RSS) {results.get('peak_rss_gib', float('nan')):.2f} GiB  ",
        f"Seeds: {results['seeds']}; epochs {cfg['epochs']}, lr step {cfg['lr_step']}, "
        f"channels {cfg['channels']}, pooling {cfg.get('pooling')}, "
        f"split_hz {cfg['split_hz']:g}, time shift "
        f"{cfg['time_shift']} (per {cfg.get('time_shift_per', 'episode')}), mask fill "
        f"{cfg.get('mask_fill', 'min')}, recipe {cfg.get('recipe', '-')}, episodes/epoch "
        f"{cfg.get('episodes')} ({cfg.get('train_way', 5)}-way 5-shot), "
        f"log-mel {cfg.get('logmel', '-')}, "
        f"per-view loss weight {cfg['per_view_weight']}, "
        f"embedding norm {cfg.get('embedding_norm')}, "
        + _extras_text(cfg)
        + f"{cfg['repeats']} test passes"
        + (" (QUICK RUN: not a result)" if results["quick"] else ""),
    ]
    lines += _accuracy_table(results) + _gain_table(results) + _sweep_table(results)
    lines += _k_shot_table(results) + _importance_table(results)
    lines += ["", "Timings (s): " + ", ".join(f"{k} {v:.0f}" for k, v in
                                             results["timings_s"].items()), ""]
    return "\n".join(lines)


_KAGGLE18_NOTE = (
    "Kaggle18: the paper gives neither its clip length, its clips per class nor its class "
    "split; this run's curation and split are the library's (docs/kaggle18.rst), so the "
    "paper's numbers are of a similar set, not of this one.  ")


def _is_kaggle18(results):
    return results.get("dataset", "esc50") == "kaggle18"


def dataset_title(results):
    """The run's dataset as the report names it: "ESC-50", or Kaggle18 and its curation.

    Parameters
    ----------
    results : dict
        What :func:`~research.reproduce.run` collects (no ``dataset`` key: ESC-50).

    Returns
    -------
    str
        The name.
    """
    if not _is_kaggle18(results):
        return "ESC-50"
    c = results["config"].get("curation") or {}
    return (f"Kaggle18 (FSDKaggle2018, curated: {c.get('n_per_class')} clips per class, "
            f"{c.get('duration', 2.0):g} s around each clip's peak at {c.get('sr', 16000)} "
            f"Hz, clips drawn with seed {c.get('random_state', 0)}"
            f"{', manually verified first' if c.get('prefer_verified') else ''}; "
            "class split kaggle18_class_split(0), 26/5/10)")


def _n_test_clips(results):
    """The test clips the report names: ESC-50's 400 (10 classes x 40; also for a --quick
    run, as before), Kaggle18's 10 classes x the curation's clips per class."""
    if not _is_kaggle18(results):
        return 400
    return 10 * ((results["config"].get("curation") or {}).get("n_per_class") or 0)


def read_results(folder, label=None, hint="Give the --out folder of a finished reproduction "
                 "(`python -m research.reproduce --out FOLDER ...`)."):
    """``folder``/results.json as a dict; a clear FileNotFoundError where it is missing."""
    path = Path(folder) / "results.json"
    if not path.is_file():
        raise FileNotFoundError(f"{label or folder}: no results.json there. {hint}")
    return json.loads(path.read_text())


def _extras_text(cfg):
    """The settings recorded only when set (issue 23's levers), for the header line."""
    parts = [f"{k.replace('_', ' ')} {cfg[k]}" for k in
             ("spec_augment", "pretrain_epochs", "time_pool", "freq_pool", "checkpoint",
              "test_time_shifts")
             if k in cfg]
    if cfg.get("class_split"):
        parts.append(f"class split esc50_class_split({cfg['class_split']}) (not the paper's "
                     "split: the paper's columns do not apply)")
    return "".join(f"{p}, " for p in parts)


def trained_elsewhere(results):
    """``[(model, seed, commit)]`` of the models not trained at the run's commit(s).

    Only runs that record ``trained_at`` (per model and seed) can tell; a model
    loaded from an earlier run keeps the commit that trained it, or ``"unknown"``.
    """
    run = results["commit"] if isinstance(results["commit"], list) else [results["commit"]]
    return [(kind, p["seed"], p["trained_at"]["commit"])
            for kind, entry in results["models"].items() for p in entry["per_seed"]
            if "trained_at" in p and p["trained_at"]["commit"] not in run]


def _trained_elsewhere_line(results):
    found = trained_elsewhere(results)
    if not found:
        return []
    return ["**Trained at another commit** (loaded, not retrained by this run): " + "; ".join(
        f"{kind} seed {seed} at `{commit}`" for kind, seed, commit in found) + "  "]


def _listed(value, quote=""):
    """A record, or the records of several merged runs, for the header."""
    values = value if isinstance(value, list) else [value]
    return "; ".join(f"{quote}{v}{quote}" for v in values)


def _accuracy_table(results):
    lines = [
        "",
        "Accuracy (%) on the 10 test classes, paper's protocol. 'ours' carries the paper's "
        "95% CI (1.96 sd/sqrt(n) over all queries, as the paper computes it: it treats the "
        f"passes over the same {_n_test_clips(results)} clips as independent, so it is too "
        "narrow); 'CI clips' is "
        "over the clips' accuracies, 'CI seeds' a t-interval over the seeds. 'diff' is ours "
        "minus the paper's; 'within' says whether |diff| is inside the combined paper-style "
        "CI sqrt(ci_ours^2 + ci_paper^2).",
        "",
        "| model | setting | ours | CI clips | CI seeds | paper | diff | within "
        "| untrained floor |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    other_split = results["config"].get("class_split")
    for kind, entry in results["models"].items():
        for s in SETTING_NAMES:
            m = entry["mean"][s]
            p, pci = paper_tables(results)[PAPER_TABLES_FOR[kind]][s]
            diff = m["accuracy"] - p
            comb = float(np.hypot(m["ci95"], pci))
            seed = (f" (seed sd {m['seed_std']:.2f})" if m.get("seed_std") is not None
                    else "")
            floor = ""
            if entry.get("untrained"):
                floor = f"{np.mean([f[s]['accuracy'] for f in entry['untrained']]):.2f}"
            ci_clips = f"±{m['ci95_clips']:.2f}" if "ci95_clips" in m else ""
            ci_seeds = (f"±{m['ci95_seeds']:.2f}" if np.isfinite(m.get("ci95_seeds", np.nan))
                        else "")
            paper = (f"{p:.2f} ± {pci:.2f} | {diff:+.2f} | "
                     f"{'yes' if abs(diff) <= comb else 'no'}") if not other_split else \
                "- | - | - (another class split)"
            lines.append(
                f"| {MODEL_TITLES[kind]} | {s} | {m['accuracy']:.2f} ± {m['ci95']:.2f}{seed} | "
                f"{ci_clips} | {ci_seeds} | {paper} | {floor} |"
            )
    return lines


def _gain_table(results):
    if "baseline" not in results["models"]:
        return []
    base = results["models"]["baseline"]["mean"]
    lines = ["", "Gain over our baseline, paired: the same clips and episodes, averaged over "
             "the seeds, ± a 95% CI over the clips' paired differences; 'seeds ±': a 95% "
             "t-interval over the per-seed gains (the paper's gain in brackets):", "",
             "| model | " + " | ".join(SETTING_NAMES) + " |",
             "|---" * 5 + "|"]
    for kind in ("halluaudio", "time_concept", "halluaudio_crop"):
        if kind in results["models"]:
            m = results["models"][kind]["mean"]
            gain = results["models"][kind].get("paired_gain")
            paper = paper_tables(results)[PAPER_TABLES_FOR[kind]]
            cells = []
            for s in SETTING_NAMES:
                ours = (f"{gain[s]['gain']:+.2f} ± {gain[s]['ci95_clips']:.2f}"
                        + _seeds_part(gain[s]) if gain
                        else f"{m[s]['accuracy'] - base[s]['accuracy']:+.2f}")
                base_paper = paper_tables(results)["baseline"][s][0]
                cells.append(f"{ours} ({paper[s][0] - base_paper:+.2f})")
            lines.append(f"| {MODEL_TITLES[kind]} | " + " | ".join(cells) + " |")
    return lines + _hallu_vs_time_row(results)


def _seeds_part(gain):
    """', seeds ± x' from the per-seed gains (runs written before ci95_seeds existed too)."""
    from sklearn_hallu.model_selection import seeds_ci95

    ci = gain["ci95_seeds"] if "ci95_seeds" in gain else seeds_ci95(gain["per_seed"])
    return "" if np.isnan(ci) else f", seeds ± {ci:.2f}"


def _hallu_vs_time_row(results):
    """HalluAudio minus the time concept, paired (the paper's argument for frequency)."""
    from .summary import paired_gain

    models = results["models"]
    if not ("halluaudio" in models and "time_concept" in models):
        return []
    diff = paired_gain(models["halluaudio"]["per_seed"], models["time_concept"]["per_seed"])
    if diff is None:
        return []
    cells = []
    for s in SETTING_NAMES:
        tables = paper_tables(results)
        paper = tables["halluaudio"][s][0] - tables["time_concept"][s][0]
        cells.append(f"{diff[s]['gain']:+.2f} ± {diff[s]['ci95_clips']:.2f}"
                     f"{_seeds_part(diff[s])} ({paper:+.2f})")
    return [f"| HalluAudio - time concept (seeds {diff[SETTING_NAMES[0]]['seeds']}) | "
            + " | ".join(cells) + " |"]


def _k_shot_table(results):
    curves = {k: e["k_shot"] for k, e in results["models"].items() if e.get("k_shot")}
    if not curves:
        return []
    names = list(next(iter(curves.values())))
    lines = ["", "Figure 3: 5-way K-shot accuracy (%) on the test classes, mean over the seeds "
             "± a 95% CI over the clips; for the multi-view models the paired gain over our "
             "baseline in brackets (same clips and episodes; ± over the clips' paired "
             "differences). The paper plots this figure without numbers.", "",
             "| model | " + " | ".join(f"K = {n.split()[1].split('-')[0]}" for n in names) + " |",
             "|---" * (len(names) + 1) + "|"]
    for kind, curve in curves.items():
        cells = []
        for n in names:
            c = curve[n]
            gain = (f" ({c['gain']:+.2f} ± {c['gain_ci95_clips']:.2f})" if "gain" in c else "")
            cells.append(f"{c['accuracy']:.2f} ± {c['ci95_clips']:.2f}{gain}")
        lines.append(f"| {MODEL_TITLES[kind]} | " + " | ".join(cells) + " |")
    return lines


def _sweep_table(results):
    if not results.get("sweep"):
        return []
    n_train = 26 if _is_kaggle18(results) else 35
    lines = ["", f"Split-frequency sweep (HalluAudio trained on the {n_train} training classes, "
             "scored on the 5 validation classes, paper protocol):", "",
             "| split_hz | 5-way 1-shot | 5-way 5-shot |", "|---|---|---|"]
    for r in results["sweep"]:
        lines.append(f"| {r['split_hz']:g} | {r['5-way 1-shot']:.2f} ± "
                     f"{r['5-way 1-shot ci95']:.2f} | {r['5-way 5-shot']:.2f} ± "
                     f"{r['5-way 5-shot ci95']:.2f} |")
    return lines


def _importance_table(results):
    hallu = results["models"].get("halluaudio")
    if not (hallu and hallu["per_seed"] and "frequency_importance" in hallu["per_seed"][0]):
        return []
    lines = ["", "Frequency importance on the test classes (5-way 5-shot episodes; "
             "correct with high band alone / correct with low band alone, seed "
             f"{hallu['per_seed'][0]['seed']}):", "", "| class | ratio | high | low |",
             "|---|---|---|---|"]
    for c, v in sorted(hallu["per_seed"][0]["frequency_importance"].items(),
                       key=lambda kv: -kv[1]["ratio"]):
        lines.append(f"| {c} | {v['ratio']:.2f} | {v['correct_high']} | {v['correct_low']} |")
    return lines


def plot_outputs(results, out):
    """Write the figures: frequency importance, split sweep, accuracy beside the paper's.

    Parameters
    ----------
    results : dict
        What :func:`~research.reproduce.run` collects.
    out : pathlib.Path
        Output folder.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figures = {"frequency_importance.png": _plot_importance, "split_sweep.png": _plot_sweep,
               "accuracy_vs_paper.png": _plot_accuracy, "k_shot.png": _plot_k_shot}
    for name, draw in figures.items():
        fig = draw(results)
        if fig is not None:
            fig.tight_layout()
            fig.savefig(out / name, dpi=120)
            plt.close(fig)


def _plot_importance(results):
    from sklearn_hallu.inspection import plot_frequency_importance

    hallu = results["models"].get("halluaudio")
    if not (hallu and "frequency_importance" in hallu["per_seed"][0]):
        return None
    fi = hallu["per_seed"][0]["frequency_importance"]
    ax = plot_frequency_importance(
        {"classes": list(fi), "ratio": [v["ratio"] for v in fi.values()]},
        title=f"Frequency importance, {'Kaggle18' if _is_kaggle18(results) else 'ESC-50'} "
              "test classes")
    return ax.figure


def _plot_sweep(results):
    import matplotlib.pyplot as plt

    if not results.get("sweep"):
        return None
    fig, ax = plt.subplots(figsize=(5, 3.2))
    hz = [r["split_hz"] for r in results["sweep"]]
    for s in ("5-way 1-shot", "5-way 5-shot"):
        ax.errorbar(hz, [r[s] for r in results["sweep"]],
                    yerr=[r[s + " ci95"] for r in results["sweep"]], marker="o", label=s,
                    capsize=3)
    ax.set_xscale("log")
    ax.set_xlabel("split frequency (Hz)")
    ax.set_ylabel("validation accuracy (%)")
    ax.set_title("HalluAudio: where to split (validation classes)")
    ax.legend()
    return fig


def _plot_accuracy(results):
    import matplotlib.pyplot as plt

    if not results["models"] or results["config"].get("class_split"):
        return None  # nothing to draw, or not the paper's split
    fig, ax = plt.subplots(figsize=(7, 3.4))
    kinds = list(results["models"])
    width = 0.8 / (2 * len(kinds))
    x = np.arange(len(SETTING_NAMES))
    for j, kind in enumerate(kinds):
        m = results["models"][kind]["mean"]
        ax.bar(x + (2 * j) * width, [m[s]["accuracy"] for s in SETTING_NAMES], width,
               yerr=[m[s]["ci95"] for s in SETTING_NAMES], label=f"{kind} (ours)")
        ax.bar(x + (2 * j + 1) * width,
               [paper_tables(results)[PAPER_TABLES_FOR[kind]][s][0] for s in SETTING_NAMES],
               width, alpha=0.45, label=f"{kind} (paper)")
    ax.set_xticks(x + width * (len(kinds) - 0.5), SETTING_NAMES)
    ax.set_ylabel("test accuracy (%)")
    ax.set_ylim(30, 95)
    ax.legend(fontsize=7, ncol=2)
    return fig


def _plot_k_shot(results):
    import matplotlib.pyplot as plt

    curves = {k: e["k_shot"] for k, e in results["models"].items() if e.get("k_shot")}
    if not curves:
        return None
    fig, ax = plt.subplots(figsize=(5, 3.4))
    for kind, curve in curves.items():
        ks = [int(n.split()[1].split("-")[0]) for n in curve]
        ax.errorbar(ks, [c["accuracy"] for c in curve.values()],
                    yerr=[c["ci95_clips"] for c in curve.values()], marker="o", capsize=3,
                    label=MODEL_TITLES[kind])
        paper = paper_tables(results).get(PAPER_TABLES_FOR[kind])
        if paper:  # the paper's numbers for K = 1 and K = 5 (Tables 1 and 2)
            ax.plot([1, 5], [paper["5-way 1-shot"][0], paper["5-way 5-shot"][0]], "x",
                    color=ax.lines[-1].get_color(), markersize=8)
    ax.set_xticks(range(1, 6))
    ax.set_xlabel("K (shots per class), 5-way")
    ax.set_ylabel("test accuracy (%)")
    ax.set_title("Figure 3: 5-way K-shot (x: paper, K = 1 and 5)", fontsize=9)
    ax.legend(fontsize=7)
    return fig


def rerender(out):
    """Rewrite ``results.md`` and the figures of ``out`` from its ``results.json``.

    The tables are a function of the per-clip results that ``results.json``
    holds, so a newer report (e.g. a new paired comparison) can be drawn from
    a finished run without training or testing again. The commit that drew it
    is recorded beside the run's own.

    Parameters
    ----------
    out : str or pathlib.Path
        A reproduction's output folder.

    Returns
    -------
    results : dict
        The results, with ``rendered_by`` (commit and command) added.
    """
    path = Path(out) / "results.json"
    if not path.is_file():
        raise FileNotFoundError(
            f"--stage report needs a finished run's results.json; {path} does not exist. "
            "Run the reproduction into this --out folder first.")
    results = json.loads(path.read_text())
    results["rendered_by"] = {"commit": git_commit(),
                              "command": COMMAND + " " + " ".join(sys.argv[1:])}
    write_outputs(results, out)
    log(f"report rewritten from {path}")
    return results
