"""
Log-mel spectrograms and their masked views
===========================================

HalluAudio looks at a clip three times: the whole log-mel spectrogram, only its
low-frequency rows, and only its high-frequency rows. This example makes two
synthetic sounds, turns them into log-mel spectrograms with
:class:`~sklearn_hallu.LogMelTransformer` and into views with
:class:`~sklearn_hallu.FrequencyMaskTransformer`.
"""

# %%
# Two sounds: a low tone and a high tone, one second each at 16 kHz.
import matplotlib.pyplot as plt

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
# Masked cells hold each clip's own minimum (its quietest value), so they read as
# "nothing there" rather than as a loud 0 dB.
for clip in (0, 5):
    plot_views(V[clip], titles=[f"whole (class {y[clip]})", "low band", "high band"])
plt.show()

# %%
# The time-concept ablation of the paper splits the time axis instead.
T = FrequencyMaskTransformer(axis="time").fit_transform(S)
plot_views(T[5], titles=["whole", "first half", "second half"])
plt.show()
