"""Few-shot evaluation and model selection with scikit-learn's tools."""

from ._scorer import ClassKFold, FewShotReport, FewShotScorer, few_shot_report

__all__ = ["FewShotScorer", "ClassKFold", "few_shot_report", "FewShotReport"]
