"""How far a 1e-7 relative change of the input moves the weights after one epoch.

The measurement behind the comments of
``tests/test_classifier.py::test_standardize_makes_the_model_blind_to_level_and_scale``:
the tests' small synthetic views (12 tone classes, 32 mel rows), one epoch of the tests'
tiny classifier, for the mask fills "min" and "nan" and per_view_weight 0 and 1.

    python -m research.rounding_sensitivity  # -> research/results/rounding_sensitivity.json
"""

import json
from pathlib import Path

from sklearn_hallu import FrequencyMaskTransformer, HalluAudioClassifier, LogMelTransformer
from sklearn_hallu.datasets import make_sounds

# the test suite's fixtures (tests/conftest.py: sounds, SMALL_LOGMEL, SMALL_MASK, tiny_clf)
LOGMEL = dict(sr=8000, n_mels=32, n_fft=256, hop_length=128, fmax=4000.0, duration=0.5)
MASK = dict(sr=8000, n_mels=32, fmax=4000.0)
CLF = dict(n_way=4, k_shot=2, n_query=2, max_epochs=1, channels=(8, 8, 8), random_state=0,
           n_threads=1)


def weight_drift(X, y, per_view_weight):
    a = HalluAudioClassifier(per_view_weight=per_view_weight, **CLF).fit(X, y)
    b = HalluAudioClassifier(per_view_weight=per_view_weight, **CLF).fit(
        (X * (1 + 1e-7)).astype(X.dtype), y)
    return max(float((p - q).detach().abs().max()) for p, q in
               zip(a.net_.module_.parameters(), b.net_.module_.parameters()))


def main():
    sounds, y = make_sounds(n_classes=12, n_per_class=10, sr=8000, duration=0.5,
                            random_state=0)
    S = LogMelTransformer(**LOGMEL).fit_transform(sounds)
    rows = []
    for fill in ("min", "nan"):
        X = FrequencyMaskTransformer(1000.0, fill=fill, **MASK).fit_transform(S)
        for w in (0.0, 1.0):
            rows.append({"fill": fill, "per_view_weight": w,
                         "max_weight_change": weight_drift(X, y, w)})
            print(rows[-1], flush=True)
    out = Path(__file__).parent / "results" / "rounding_sensitivity.json"
    out.write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
