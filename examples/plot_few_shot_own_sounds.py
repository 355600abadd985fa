"""
Classify your own sounds from a few examples
============================================

Train once on base classes with many clips, then recognise new classes from one
to five labelled clips each, without retraining: the classifier stores one
prototype per new class and answers by the nearest prototype.

Here the sounds are synthetic; with your own files, pass their paths instead of
arrays (``LogMelTransformer`` reads wav, flac and ogg).
"""

# %%
import matplotlib.pyplot as plt
import numpy as np
from sklearn.metrics import ConfusionMatrixDisplay
from sklearn.pipeline import Pipeline

from sklearn_hallu import (
    FrequencyMaskTransformer,
    HalluAudioClassifier,
    LogMelTransformer,
    fit_support,
)
from sklearn_hallu.datasets import make_sounds

X, y = make_sounds(n_classes=14, n_per_class=12, sr=8000, duration=0.5, random_state=0)
base = y < 10  # 10 base classes for training, 4 new ones
pipe = Pipeline([
    ("logmel", LogMelTransformer(sr=8000, n_mels=32, n_fft=256, hop_length=128,
                                 fmax=4000.0, duration=0.5)),
    ("masks", FrequencyMaskTransformer(1000.0, sr=8000, n_mels=32, fmax=4000.0)),
    ("clf", HalluAudioClassifier(n_way=5, k_shot=3, n_query=3, max_epochs=10,
                                 lr_step=7, channels=(16, 16, 16), random_state=0,
                                 verbose=1)),
])
pipe.fit(X[base], y[base])

# %%
# Three labelled clips of each new class are the support set; the rest are queries.
Xn, yn = X[~base], y[~base]
support = np.concatenate([np.flatnonzero(yn == c)[:3] for c in np.unique(yn)])
query = np.setdiff1d(np.arange(len(yn)), support)
fit_support(pipe, Xn[support], yn[support])
pred = pipe.predict(Xn[query])
print("classes now:", pipe.classes_)
print(f"accuracy on {len(query)} queries of 4 new classes: {np.mean(pred == yn[query]):.2f}")
print("probabilities of the first query:", np.round(pipe.predict_proba(Xn[query[:1]]), 3))

# %%
# Which new class each query was taken for: the diagonal holds the right answers.
disp = ConfusionMatrixDisplay.from_predictions(yn[query], pred, colorbar=False)
disp.ax_.set_title(f"{len(query)} queries of 4 new classes, 3 support clips each")
disp.ax_.set_xlabel("predicted class")
disp.ax_.set_ylabel("true class")
disp.figure_.set_size_inches(4.5, 4.5)
disp.figure_.tight_layout()
plt.show()
