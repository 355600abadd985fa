"""The reproduction's command line: ``python -m research.reproduce --help``.

Stages: ``all``/``test`` (:func:`research.reproduce.run.run`), ``report``
(:func:`research.reproduce.report.rerender`) and ``merge``
(:func:`research.reproduce.merge.merge_runs`).
"""

from __future__ import annotations

import argparse
import sys

from sklearn_hallu import FrequencyMaskTransformer, LogMelTransformer
from sklearn_hallu.nn import POOLINGS
from sklearn_hallu.utils import tune_cpu_allocator

from .run import COMMAND, PRESETS, RECIPES, run

__all__ = ["main", "dispatch", "build_parser"]


#: ``--recipe``'s help: the recipes and presets, one sentence each
RECIPE_HELP = ("training length: 'long' 63 epochs x 30 episodes, lr/10 every 21 "
               "(the default for esc50); 'cpu' 21 x 30, lr/10 every 7; 'paper' 60 "
               "epochs x one pass over the training clips, lr/10 every 20 (the "
               "paper's ESC-50 recipe); 'paper_kaggle18' 60 epochs x one pass, "
               "lr/10 every 30 (the paper's Kaggle18 recipe, the default for "
               "kaggle18); 'long_tta8' the long recipe with 8 test-time shifts at "
               "prediction (the best on ESC-50's validation classes so far; its "
               "models are the long recipe's, reused); 'long_tpool_tta8' the same "
               "with --time-pool 4,4,1 (level with 'long_tta8' within noise on "
               "the test classes); 'long2x' 126 x 30, lr/10 every 42; "
               "'long2x_tpool_tta8' 'long_tpool_tta8' trained as 'long2x' (the most "
               "accurate inductive recipe, about 2x the fit time); "
               "'long2x_tpool_tta8_prop' the same models predicting with the "
               "transductive --embedding-norm batch_propagated_l2; "
               "'long2x_tpool_tta8_lp' those classified by label propagation "
               "(--embedding-norm batch_label_propagated_l2). The same "
               "classifier settings: sklearn_hallu.classifier.recipe_params(NAME)")


def build_parser(parser=None):
    """The reproduction's options, added to ``parser`` (or a new parser).

    Parameters
    ----------
    parser : argparse.ArgumentParser or None, default=None
        A parser to fill, e.g. the ``reproduce`` sub-command of ``sklearn-hallu``.

    Returns
    -------
    argparse.ArgumentParser
        The filled parser.
    """
    p = parser or argparse.ArgumentParser(
        prog=COMMAND,
        description="Reproduce HalluAudio's ESC-50 results (Tables 1 and 2, Figures 3 and 4), "
                    "or its Kaggle18 results (--dataset kaggle18).")
    p.add_argument("--dataset", default="esc50", choices=["esc50", "kaggle18"],
                   help="'esc50' (default) or 'kaggle18': FSDKaggle2018 curated as in the "
                        "paper (balanced, 2 s around each clip's peak, seed 0), hop 201, "
                        "the 26/5/10 split of kaggle18_class_split; docs/kaggle18.rst")
    p.add_argument("--data-home", default=None,
                   help="the dataset's folder (or its parent); default: $SKLEARN_HALLU_ESC50 "
                        "(or $SKLEARN_HALLU_KAGGLE18), then the data home; downloaded when "
                        "absent")
    p.add_argument("--out", default="results/reproduce", help="output folder")
    p.add_argument("--device", default="auto", help="cpu, cuda, or auto (default)")
    p.add_argument("--quick", action="store_true",
                   help="tiny budget, 12 clips per class: checks the harness end to end")
    p.add_argument("--models", nargs="*", default=["baseline", "halluaudio", "time_concept"],
                   choices=["baseline", "halluaudio", "time_concept", "halluaudio_crop"])
    p.add_argument("--seeds", nargs="+", type=int, default=[0])
    p.add_argument("--recipe", default=None, choices=sorted(RECIPES) + sorted(PRESETS),
                   help=RECIPE_HELP)
    p.add_argument("--epochs", type=int, default=None, help="override the recipe's epochs")
    p.add_argument("--episodes", type=int, default=None,
                   help="override the recipe's episodes per epoch")
    p.add_argument("--lr-step", type=int, default=None,
                   help="override the recipe's epochs per learning-rate step")
    p.add_argument("--n-fft", type=int, default=LogMelTransformer().n_fft,
                   help="FFT size of the log-mel features (default: LogMelTransformer's)")
    p.add_argument("--mask-fill", default=FrequencyMaskTransformer().fill,
                   type=lambda v: v if v in ("min", "nan") else float(v),
                   help="masked cells: 'nan' (read as the training mean), 'min' (each "
                        "clip's minimum) or a number (default: FrequencyMaskTransformer's)")
    p.add_argument("--time-shift-per", default="clip", choices=["clip", "episode"],
                   help="one random time shift per clip (default) or per episode")
    p.add_argument("--restart", action="store_true",
                   help="retrain every model, even those a previous run finished")
    p.add_argument("--channels", default=None,
                   help="backbone widths, e.g. 128,256,384 (Chou); default 64,64,64")
    p.add_argument("--pooling", default="time_mean", choices=list(POOLINGS),
                   help="backbone output pooling (default time_mean)")
    p.add_argument("--split-hz", type=float, default=None,
                   help="HalluAudio split; default: best of --sweep on validation, else 2000")
    p.add_argument("--sweep", nargs="*", type=float, default=None,
                   help="split frequencies (Hz) to compare on the validation classes")
    p.add_argument("--sweep-epochs", type=int, default=None)
    p.add_argument("--no-time-shift", action="store_true", help="no time-shift augmentation")
    p.add_argument("--per-view-weight", type=float, default=1.0,
                   help="weight of each view's own loss in the multi-view models (0: the "
                        "paper's loss)")
    p.add_argument("--embedding-norm", default="centered_l2",
                   choices=["centered_l2", "batch_centered_l2", "batch_propagated_l2",
                            "batch_label_propagated_l2", "none"],
                   help="how test episodes compare embeddings: centred on the training clips' "
                        "mean and L2-normalised per view (default, chosen on validation: "
                        "research/embedding_norm.py); centred on the test split's own clips "
                        "(batch_centered_l2, transductive: docs/beyond.rst); centred-L2, "
                        "then smoothed along the test split's own neighbour graph "
                        "(batch_propagated_l2, transductive), and classified by label "
                        "propagation (batch_label_propagated_l2); or raw (the "
                        "paper's). Saved models are reused under any")
    p.add_argument("--train-way", type=int, default=5,
                   help="classes per training episode (5-shot, 5 queries each; default 5, "
                        "the test episodes' way); validation and test keep their own")
    _add_training_extras(p)
    _add_stage_options(p)
    return p


def _add_stage_options(p):
    """Testing budget, floor, features cache and the stage to run."""
    p.add_argument("--val-episodes", type=int, default=300)
    p.add_argument("--repeats", type=int, default=None, help="test passes; default 50 (paper)")
    p.add_argument("--floor", action="store_true",
                   help="also test each architecture untrained (the floor)")
    p.add_argument("--features-cache", default=None,
                   help=".npz file of log-mel features: read if present, else written")
    p.add_argument("--stage", default="all", choices=["all", "test", "report", "merge"],
                   help="'test' loads the models saved in OUT/models instead of training; "
                        "'report' only rewrites results.md and the figures from "
                        "OUT/results.json (no features, no models); 'merge' joins the "
                        "runs of --merge (other seeds, same settings) into OUT")
    p.add_argument("--merge", nargs="+", default=None, metavar="FOLDER",
                   help="with --stage merge: output folders of reproductions of the same "
                        "settings and different seeds (e.g. one per machine or process)")


def _add_training_extras(p):
    """Model variants and options added with issue 23's levers (the latter recorded in the
    config only when set)."""
    p.add_argument("--crop-views", action="store_true",
                   help="feed band views only their own rows (a model variant)")
    p.add_argument("--spec-augment", default=None, metavar="NF,WF,NT,WT",
                   help="SpecAugment while training: NF bands of up to WF mel rows and NT of "
                        "up to WT frames per clip, e.g. 2,16,2,16 (default: none)")
    p.add_argument("--pretrain-epochs", type=int, default=0,
                   help="passes of supervised pre-training before the episodes (default 0)")
    p.add_argument("--time-pool", default=None, metavar="T1,T2,T3",
                   help="max pooling along time of each conv block, e.g. 4,4,1 "
                        "(HalluAudioClassifier(time_pool=...); default: 4 in each)")
    p.add_argument("--freq-pool", default=None, metavar="F1,F2,F3",
                   help="max pooling along frequency of each conv block, e.g. 4,4,2 "
                        "(HalluAudioClassifier(freq_pool=...); default: 4 in each)")
    p.add_argument("--checkpoint", default="best_after_last_drop",
                   choices=["best", "best_after_last_drop"],
                   help="which validation epoch to keep (default best_after_last_drop, the "
                        "library's default; runs made before it became the default kept 'best' "
                        "and record no checkpoint: rerun their stages with --checkpoint best)")
    p.add_argument("--class-split", type=int, default=0, metavar="SEED",
                   help="ESC-50 only: the 35/5/10 class split esc50_class_split(SEED) "
                        "(default 0, the paper's); another seed draws another split, to "
                        "check that a gain is not a property of one split")
    p.add_argument("--test-time-shifts", type=_positive_int, default=None, metavar="N",
                   help="prediction: each clip's embedding is the mean over N evenly spaced "
                        "circular time shifts (default 1: none, or the --recipe preset's); "
                        "saved models are reused (research/results/levers/RULES_tta.md)")


def _positive_int(text):
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be an integer >= 1, got {text}")
    return value


def dispatch(args):
    """Do what ``args.stage`` asks: run (train and/or test), redraw the report, or merge.

    Parameters
    ----------
    args : argparse.Namespace
        The options of :func:`build_parser`.

    Returns
    -------
    results : dict
        As written to ``args.out``/results.json.
    """
    if args.merge and args.stage != "merge":
        raise ValueError(f"--merge given with --stage {args.stage}; add --stage merge to "
                         "join those runs into --out.")
    if args.stage == "merge":
        if not args.merge:
            raise ValueError("--stage merge needs --merge FOLDER FOLDER ...: the output "
                             "folders of the runs to join.")
        chosen = [f"--{k.replace('_', '-')}" for k in ("seeds", "models", "quick", "dataset",
                                                        "class_split", "test_time_shifts")
                  if getattr(args, k) != build_parser().get_default(k)]
        if chosen:  # merge takes every seed and model of the runs as they are
            raise ValueError(f"--stage merge joins every seed and model of the --merge runs; "
                             f"{', '.join(chosen)} would be ignored. Leave "
                             f"{'it' if len(chosen) == 1 else 'them'} out.")
        from .merge import merge_runs

        return merge_runs(args.merge, args.out)
    if args.class_split and args.dataset != "esc50":
        raise ValueError(f"--class-split {args.class_split} draws a split of ESC-50's classes; "
                         f"--dataset {args.dataset} has its own fixed split. Leave it out.")
    if args.stage == "report":
        from .report import rerender

        return rerender(args.out)
    return run(args)


def main(argv=None):
    """Run the reproduction with command-line arguments ``argv``; return the exit code."""
    args = build_parser().parse_args(argv)
    tune_cpu_allocator()
    dispatch(args)
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
