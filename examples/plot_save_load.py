"""
Save a fitted pipeline and load it elsewhere
============================================

A fitted Pipeline is saved with :func:`joblib.dump` and loaded with
:func:`joblib.load`, in this process or another one, on this machine or one
without a GPU: a model trained with ``device="cuda"`` loads on a CPU-only
machine (skorch moves its weights and warns). The loaded pipeline predicts the
same probabilities and accepts a new support set.
"""

# %%
import subprocess
import sys
import tempfile
from pathlib import Path

import joblib
import numpy as np
from sklearn.pipeline import Pipeline

from sklearn_hallu import FrequencyMaskTransformer, HalluAudioClassifier, LogMelTransformer
from sklearn_hallu.datasets import make_sounds

X, y = make_sounds(n_classes=6, n_per_class=8, sr=8000, duration=0.5, random_state=0)
pipe = Pipeline([
    ("logmel", LogMelTransformer(sr=8000, n_mels=32, n_fft=256, hop_length=128,
                                 fmax=4000.0, duration=0.5)),
    ("masks", FrequencyMaskTransformer(1000.0, sr=8000, n_mels=32, fmax=4000.0)),
    ("clf", HalluAudioClassifier(n_way=4, k_shot=2, n_query=2, max_epochs=2,
                                 channels=(8, 8, 8), random_state=0)),
]).fit(X, y)

folder = Path(tempfile.mkdtemp())
joblib.dump(pipe, folder / "pipe.joblib")
np.save(folder / "X.npy", X[:4])
np.save(folder / "p.npy", pipe.predict_proba(X[:4]))

# %%
# A fresh Python process loads it and checks the probabilities.
code = f"""
import joblib, numpy as np
pipe = joblib.load({str(folder / 'pipe.joblib')!r})
p = pipe.predict_proba(np.load({str(folder / 'X.npy')!r}))
print("identical probabilities:", np.array_equal(p, np.load({str(folder / 'p.npy')!r})))
"""
print(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                     check=True).stdout)
