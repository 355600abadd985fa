"""Helpers shared by every family: input validation; the CPU allocator setting."""

from ._allocator import tune_cpu_allocator
from .validation import (
    check_labels,
    check_spec_augment,
    check_spectrograms,
    check_time_shift,
    check_two_classes,
    check_views,
    check_waveform,
    check_waveform_array,
    reject_sparse,
)

__all__ = [
    "reject_sparse",
    "check_waveform",
    "check_waveform_array",
    "check_spectrograms",
    "check_views",
    "check_labels",
    "check_two_classes",
    "check_time_shift",
    "check_spec_augment",
    "tune_cpu_allocator",
]
