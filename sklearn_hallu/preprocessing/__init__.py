"""Log-mel features and masked views (the two Pipeline transformers)."""

from ._audio import load_audio, log_mel_spectrogram, mel_filterbank
from ._masks import band_rows, masked_views, mel_row_centres
from ._transformers import FrequencyMaskTransformer, LogMelTransformer, check_spectrograms

__all__ = [
    "LogMelTransformer",
    "FrequencyMaskTransformer",
    "log_mel_spectrogram",
    "mel_filterbank",
    "load_audio",
    "mel_row_centres",
    "band_rows",
    "masked_views",
    "check_spectrograms",
]
