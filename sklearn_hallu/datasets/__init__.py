"""Datasets: the ESC-50 and FSDKaggle2018 loaders and synthetic few-shot sounds."""

from ._esc50 import ESC50_CLASS_NAMES, ESC50_ENV, esc50_class_split, fetch_esc50, get_data_home
from ._kaggle18 import (
    KAGGLE18_CLASS_NAMES,
    KAGGLE18_CLASS_SPLIT,
    KAGGLE18_ENV,
    fetch_kaggle18,
    kaggle18_class_split,
)
from ._kaggle18_curation import crop_around_peak, curate_kaggle18
from ._soundscapes import make_soundscape, write_soundscape
from ._synthetic import make_sounds

__all__ = [
    "fetch_esc50",
    "esc50_class_split",
    "get_data_home",
    "make_sounds",
    "make_soundscape",
    "write_soundscape",
    "ESC50_ENV",
    "ESC50_CLASS_NAMES",
    "fetch_kaggle18",
    "curate_kaggle18",
    "crop_around_peak",
    "kaggle18_class_split",
    "KAGGLE18_ENV",
    "KAGGLE18_CLASS_NAMES",
    "KAGGLE18_CLASS_SPLIT",
]
