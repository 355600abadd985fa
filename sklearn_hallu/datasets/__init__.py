"""Datasets: the ESC-50 loader and synthetic few-shot sounds."""

from ._esc50 import ESC50_CLASS_NAMES, ESC50_ENV, esc50_class_split, fetch_esc50, get_data_home
from ._synthetic import make_sounds

__all__ = [
    "fetch_esc50",
    "esc50_class_split",
    "get_data_home",
    "make_sounds",
    "ESC50_ENV",
    "ESC50_CLASS_NAMES",
]
