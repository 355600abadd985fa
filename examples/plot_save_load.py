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
(``joblib.dump``) works too, but loading one runs code stored in the file:
load pickles only from people you trust.
"""

# %%
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import FunctionTransformer

from sklearn_hallu import FrequencyMaskTransformer, HalluAudioClassifier, LogMelTransformer
from sklearn_hallu.datasets import make_sounds
from sklearn_hallu.exceptions import UntrustedTypesError
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
# A file holding a type of someone else's is refused before anything is built;
# the message names the type and how to trust it if you do.
dump(Pipeline([("scale", FunctionTransformer(np.vectorize(abs)))] + pipe.steps),
     folder / "foreign.skops")
try:
    load(folder / "foreign.skops")
except UntrustedTypesError as exc:
    print(exc)
