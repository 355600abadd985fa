"""Few-shot evaluation and model selection with scikit-learn's tools."""

from ._scorer import ClassKFold, FewShotReport, FewShotScorer, clip_ci95, few_shot_report

__all__ = ["FewShotScorer", "ClassKFold", "few_shot_report", "FewShotReport",
           "clip_ci95"]
