"""Few-shot evaluation and model selection with scikit-learn's tools."""

from ._open_set import OpenSetResult, OpenSetScorer
from ._scorer import FewShotReport, FewShotScorer, few_shot_report
from ._split import ClassKFold
from ._stats import clip_ci95, paired_clip_gain, seeds_ci95

__all__ = ["FewShotScorer", "ClassKFold", "few_shot_report", "FewShotReport",
           "OpenSetScorer", "OpenSetResult",
           "clip_ci95", "seeds_ci95", "paired_clip_gain"]
