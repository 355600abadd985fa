"""The decorrelation term per batch, averaged per epoch, from the saved base_decor1 models.

    PYTHONPATH=. python research/results/rank/logs/decor_history.py \
        > research/results/rank/logs/decor_history.txt

The run files (runs/*.json) keep the epoch-level history only; the term is recorded per
batch (``research/decorrelate.py``), so it is read from each model's skorch history.
"""

from pathlib import Path

import joblib
import numpy as np

MODELS = Path(__file__).resolve().parents[1] / "models"

print("seed | epoch 1 | epoch 21 | last epoch")
for seed in range(6):
    model = joblib.load(MODELS / f"base_decor1_seed{seed}.joblib")
    history = (model[-1] if hasattr(model, "steps") else model).history_
    term = [np.mean([b["decor"] for b in h["batches"]]) for h in history]
    print(f"{seed} | {term[0]:.3f} | {term[20]:.3f} | {term[-1]:.3f} ({len(term)} epochs)")
