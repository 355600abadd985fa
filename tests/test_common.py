"""scikit-learn's common checks, and our own for what they skip (3-D/4-D input)."""


from sklearn.utils.estimator_checks import parametrize_with_checks

from sklearn_hallu import HalluAudioClassifier, LogMelTransformer

# A LogMelTransformer sized for the checks' tiny tabular data: each row of X is a
# waveform of a few samples.
LOGMEL_FOR_CHECKS = LogMelTransformer(sr=100, n_fft=2, hop_length=1, n_mels=2, fmax=50.0,
                                      duration=None, top_db=None)
# The classifier on 2-D X treats each row as a one-row spectrogram.
CLF_FOR_CHECKS = HalluAudioClassifier(n_way=2, k_shot=1, n_query=1, max_epochs=2,
                                      channels=(4, 4, 4), random_state=0, n_threads=1)

EXPECTED_FAILED = {
    "LogMelTransformer": {
        "check_n_features_in_after_fitting": "Stateless by design: clips of any length are "
        "cropped or padded to `duration`, so a different number of samples is not an error.",
        "check_transformer_preserve_dtypes": "The output is float32 whatever the input dtype "
        "(the features of the paper; half the memory of float64).",
        "check_fit2d_1feature": "A 1-sample clip is shorter than one frame (n_fft): refused "
        "with our own message, which the check does not know.",
    },
    "HalluAudioClassifier": {
        "check_classifiers_classes": "Episodes need k_shot + n_query clips of each class; the "
        "check's data has classes with fewer, which fit refuses by design.",
        "check_classifiers_train": "A 4-channel conv net trained 2 epochs on tabular blobs "
        "(rows read as 1-row spectrograms) does not reach the check's accuracy threshold.",
        "check_classifiers_train(readonly_memmap=True)": "As check_classifiers_train.",
        "check_classifiers_train(readonly_memmap=True,X_dtype=float32)": "As "
        "check_classifiers_train.",
        "check_decision_proba_consistency": "Squared distances are large, so the softmax "
        "saturates to exactly 0/1 in float64 and ties break the rank comparison.",
    },
}


def _expected_failed(est):
    return EXPECTED_FAILED.get(type(est).__name__, {})


@parametrize_with_checks(
    [LOGMEL_FOR_CHECKS, CLF_FOR_CHECKS],
    expected_failed_checks=_expected_failed,
)
def test_sklearn_common_checks(estimator, check):
    check(estimator)
