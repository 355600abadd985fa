"""
Log-mel spectrograms and their masked views
===========================================

HalluAudio looks at a clip three times: the whole log-mel spectrogram, only its
low-frequency rows, and only its high-frequency rows. This example makes six
synthetic sounds, turns them into log-mel spectrograms with
:class:`~sklearn_hallu.LogMelTransformer` and into views with
:class:`~sklearn_hallu.FrequencyMaskTransformer`.
"""

# %%
# Six sounds, one per class, one second each at 16 kHz: a tone plus a noise band,
# from low (class 0) to high (class 5). The views of the lowest and the highest
# are shown below.
import matplotlib.pyplot as plt
import numpy as np

from sklearn_hallu import FrequencyMaskTransformer, LogMelTransformer
from sklearn_hallu.datasets import make_sounds
from sklearn_hallu.inspection import plot_views
from sklearn_hallu.preprocessing import mel_row_centres

X, y = make_sounds(n_classes=6, n_per_class=1, duration=1.0, random_state=0)
S = LogMelTransformer(duration=1.0).fit_transform(X)
print("log-mel:", S.shape, S.dtype)

# %%
# Views: split at 2 kHz. Which mel rows is that? The mask uses the same mel
# scale as the log-mel step, so row ``i`` is centred at ``mel_row_centres(...)[i]``.
masks = FrequencyMaskTransformer(split_hz=2000.0)
V = masks.fit_transform(S)
centres = mel_row_centres(128, 0.0, 8000.0)
(low0, low1), (high0, high1) = masks.ranges_
print(f"views: {V.shape}; low rows {low0}-{low1 - 1} (<{centres[low1]:.0f} Hz), "
      f"high rows {high0}-{high1 - 1}")

# %%
# Masked cells are NaN (``fill="nan"``, the default): "missing", which
# :class:`~sklearn_hallu.HalluAudioClassifier` reads as the mean of its training
# spectrograms, i.e. 0 after its standardisation (the paper's "set to zero").
# :func:`~sklearn_hallu.inspection.plot_views` draws them in light grey.
# (``fill="min"`` would write each clip's own quietest value instead.)
print(f"masked cells of the low view: {np.isnan(V[0, 1]).mean():.0%} NaN")
for clip in (0, 5):
    plot_views(V[clip], titles=[f"whole (class {y[clip]})", "low band", "high band"])
plt.show()

# %%
# The time-concept ablation of the paper splits the time axis instead.
T = FrequencyMaskTransformer(axis="time").fit_transform(S)
plot_views(T[5], titles=["whole", "first half", "second half"])
plt.show()

# sphinx_gallery_thumbnail_number = 2
