"""Log-mel features and masked views (the two Pipeline transformers)."""

from ..utils.validation import check_spectrograms
from ._audio import (
    as_waveform_batch,
    load_audio,
    log_mel_spectrogram,
    mel_filterbank,
)
from ._audio import clip_label as clip_label  # how messages name clips (also _windows)
from ._masks import band_rows, masked_views, mel_row_centres
from ._transformers import FrequencyMaskTransformer, LogMelTransformer
from ._window_clips import window_clips

__all__ = [
    "LogMelTransformer",
    "FrequencyMaskTransformer",
    "log_mel_spectrogram",
    "mel_filterbank",
    "load_audio",
    "as_waveform_batch",
    "window_clips",
    "mel_row_centres",
    "band_rows",
    "masked_views",
    "check_spectrograms",
]
