"""Interpretation: which frequency band each class relies on, and plots."""

from ._importance import frequency_importance, plot_frequency_importance, plot_views

__all__ = ["frequency_importance", "plot_frequency_importance", "plot_views"]
