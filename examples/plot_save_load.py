"""
Save a fitted pipeline and load it elsewhere
============================================

A fitted Pipeline is saved with :func:`sklearn_hallu.persistence.dump` in the
`skops <https://skops.readthedocs.io>`_ format and loaded with
:func:`sklearn_hallu.persistence.load`, in this process or another one, on
this machine or one without a GPU: a model trained with ``device="cuda"``
loads on a CPU-only machine with ``device="cpu"``. The loaded pipeline
predicts the same probabilities and accepts a new support set.

A ``.skops`` file holds data, not code, and ``load`` refuses any type outside
scikit-learn's, numpy's and the three of this package. A pickle
(``joblib.dump``) runs code stored in the file when it is loaded: ``load``
refuses one unless given ``allow_pickle=True``, and its message shows how to
convert the file to skops once.
"""

# %%
import subprocess
import sys
import tempfile
from pathlib import Path

import joblib
import matplotlib.pyplot as plt
import numpy as np
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import FunctionTransformer

from sklearn_hallu import FrequencyMaskTransformer, HalluAudioClassifier, LogMelTransformer
from sklearn_hallu.datasets import make_sounds
from sklearn_hallu.exceptions import PickleNotAllowedError, UntrustedTypesError
from sklearn_hallu.persistence import dump, load, trusted_types, untrusted_types

X, y = make_sounds(n_classes=6, n_per_class=8, sr=8000, duration=0.5, random_state=0)
pipe = Pipeline([
    ("logmel", LogMelTransformer(sr=8000, n_mels=32, n_fft=256, hop_length=128,
                                 fmax=4000.0, duration=0.5)),
    ("masks", FrequencyMaskTransformer(1000.0, sr=8000, n_mels=32, fmax=4000.0)),
    ("clf", HalluAudioClassifier(n_way=4, k_shot=2, n_query=2, max_epochs=2,
                                 channels=(8, 8, 8), random_state=0)),
]).fit(X, y)

folder = Path(tempfile.mkdtemp())
dump(pipe, folder / "pipe.skops")
np.save(folder / "X.npy", X[:4])
np.save(folder / "p.npy", pipe.predict_proba(X[:4]))

# %%
# The only types of ours the file needs (the network is stored as numpy arrays,
# no torch object); nothing is left untrusted:
print(trusted_types())
print("untrusted:", untrusted_types(folder / "pipe.skops"))

# %%
# A fresh Python process loads it and checks the probabilities.
code = f"""
import numpy as np
from sklearn_hallu.persistence import load
pipe = load({str(folder / 'pipe.skops')!r})
p = pipe.predict_proba(np.load({str(folder / 'X.npy')!r}))
print("identical probabilities:", np.array_equal(p, np.load({str(folder / 'p.npy')!r})))
"""
print(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                     check=True).stdout)

# %%
# Loaded here too, the pipeline gives every probability the fitted one gives:
# all points lie on the diagonal.
loaded = load(folder / "pipe.skops")
p_fitted, p_loaded = pipe.predict_proba(X), loaded.predict_proba(X)
fig, ax = plt.subplots(figsize=(4.5, 4.5))
ax.plot([0, 1], [0, 1], color="0.75", lw=1, zorder=0)
ax.scatter(p_fitted.ravel(), p_loaded.ravel(), s=14)
ax.set_xlabel("probability, fitted pipeline")
ax.set_ylabel("probability, loaded from pipe.skops")
ax.set_title(f"{p_fitted.size} probabilities, largest difference "
             f"{np.abs(p_fitted - p_loaded).max():.1g}")
fig.tight_layout()
plt.show()

# %%
# A file holding a type of someone else's is refused before anything is built;
# the message names the type and how to trust it if you do.
dump(Pipeline([("scale", FunctionTransformer(np.vectorize(abs)))] + pipe.steps),
     folder / "foreign.skops")
try:
    load(folder / "foreign.skops")
except UntrustedTypesError as exc:
    print(exc)

# %%
# A pickle is refused unless you allow it (``allow_pickle=True``; on the command
# line ``--allow-pickle``): loading it would run code stored in the file. The
# message shows how to convert a pickle you trust to skops, once.
joblib.dump(pipe, folder / "pipe.joblib")
try:
    load(folder / "pipe.joblib")
except PickleNotAllowedError as exc:
    print(exc)
