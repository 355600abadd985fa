"""
Grid search of the split frequency
==================================

Few-shot models must be judged on classes they never trained on, so the folds
must be class-disjoint (:class:`~sklearn_hallu.model_selection.ClassKFold`, or
``GroupKFold`` with ``groups=y``) and the score must be episodic
(:class:`~sklearn_hallu.model_selection.FewShotScorer`). The log-mel step is
cached with ``memory=`` so it is not recomputed for each candidate.
"""

# %%
import tempfile
import time

import matplotlib.pyplot as plt
import pandas as pd
from joblib import Memory
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import Pipeline

from sklearn_hallu import FrequencyMaskTransformer, HalluAudioClassifier, LogMelTransformer
from sklearn_hallu.datasets import make_sounds
from sklearn_hallu.model_selection import ClassKFold, FewShotScorer

X, y = make_sounds(n_classes=12, n_per_class=8, sr=8000, duration=0.5, random_state=0)
cache = Memory(tempfile.mkdtemp(), verbose=0)
pipe = Pipeline([
    ("logmel", LogMelTransformer(sr=8000, n_mels=32, n_fft=256, hop_length=128,
                                 fmax=4000.0, duration=0.5)),
    ("masks", FrequencyMaskTransformer(sr=8000, n_mels=32, fmax=4000.0)),
    ("clf", HalluAudioClassifier(n_way=4, k_shot=2, n_query=2, max_epochs=3,
                                 channels=(8, 8, 8), random_state=0)),
], memory=cache)
search = GridSearchCV(
    pipe,
    {"masks__split_hz": [500.0, 1000.0, 2000.0, 3000.0]},
    cv=ClassKFold(n_splits=3, random_state=0),
    scoring=FewShotScorer(n_way=4, k_shot=1, n_episodes=100),
    n_jobs=2,
)
t = time.perf_counter()
search.fit(X, y)
print(f"search took {time.perf_counter() - t:.1f} s; best: {search.best_params_}")

# %%
table = pd.DataFrame(search.cv_results_)[
    ["param_masks__split_hz", "mean_test_score", "std_test_score", "mean_fit_time"]]
print(table.to_string(index=False))

# %%
ax = table.plot(x="param_masks__split_hz", y="mean_test_score", yerr="std_test_score",
                marker="o", legend=False, logx=True)
ax.set_xlabel("split frequency (Hz)")
ax.set_ylabel("4-way 1-shot accuracy on held-out classes")
plt.show()
