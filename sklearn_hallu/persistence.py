"""Save and load fitted models safely, in the skops format.

A pickle (``joblib.dump``, ``pickle.dump``) runs code chosen by whoever wrote
the file when it is loaded. A ``.skops`` file holds data only: loading builds
objects of listed types, and :func:`load` refuses a file holding a type outside
scikit-learn's, numpy's and the few of this package listed by
:func:`trusted_types`, naming the types before anything is built.

Examples
--------
>>> import numpy as np
>>> from sklearn_hallu import HalluAudioClassifier
>>> from sklearn_hallu.persistence import dump, load
>>> rng = np.random.default_rng(0)
>>> X = rng.normal(size=(24, 3, 16, 16)).astype("float32")
>>> y = np.repeat(["a", "b", "c"], 8)
>>> clf = HalluAudioClassifier(n_way=3, k_shot=2, n_query=2, max_epochs=1,
...                            channels=(4, 4, 4), random_state=0).fit(X, y)
>>> import tempfile, os
>>> path = os.path.join(tempfile.mkdtemp(), "model.skops")
>>> dump(clf, path)
>>> np.array_equal(load(path).predict_proba(X), clf.predict_proba(X))
True
"""

from __future__ import annotations

import zipfile
from pathlib import Path

from .exceptions import UntrustedTypesError

__all__ = ["trusted_types", "dump", "load", "untrusted_types"]


def _type_name(t):
    return t if isinstance(t, str) else f"{t.__module__}.{t.__qualname__}"


def trusted_types():
    """The types of this package that :func:`load` trusts, by fully qualified name.

    Exactly the estimators a fitted model of sklearn-hallu holds; everything
    else a ``.skops`` file may hold (numpy arrays, the random state, Python
    containers, scikit-learn's Pipeline and estimators) is trusted by skops
    itself. The classifier's network is stored as numpy arrays (see
    ``HalluAudioClassifier.__getstate__``), so no torch or skorch type is needed.

    Returns
    -------
    names : list of str
        Sorted fully qualified type names.
    """
    from .classifier import HalluAudioClassifier
    from .preprocessing import FrequencyMaskTransformer, LogMelTransformer

    return sorted(_type_name(t) for t in
                  (HalluAudioClassifier, FrequencyMaskTransformer, LogMelTransformer))


def dump(model, path):
    """Save a model (e.g. a fitted Pipeline) to a ``.skops`` file.

    Parameters
    ----------
    model : object
        The model; usually a Pipeline ending in
        :class:`~sklearn_hallu.HalluAudioClassifier`.
    path : str or path-like
        File to write (conventionally ending in ``.skops``).
    """
    import skops.io

    skops.io.dump(model, path)


def untrusted_types(path, *, trusted=None):
    """The types of a ``.skops`` file that :func:`load` would refuse.

    Parameters
    ----------
    path : str or path-like
        A file written by :func:`dump` or :func:`skops.io.dump`.
    trusted : list of str or type, default=None
        Types trusted beyond skops' defaults and :func:`trusted_types`.

    Returns
    -------
    names : list of str
        Fully qualified names, empty when the file loads.
    """
    import skops.io

    try:
        found = skops.io.get_untrusted_types(file=path)
    except zipfile.BadZipFile:
        raise ValueError(
            f"{str(path)!r} is not a skops file. If it is a pickle (e.g. from joblib.dump), "
            "load it with joblib.load only if you trust whoever wrote it: unpickling "
            "runs code stored in the file."
        ) from None
    allowed = set(trusted_types()) | {_type_name(t) for t in (trusted or ())}
    return [t for t in found if t not in allowed]


def load(path, *, trusted=None):
    """Load a ``.skops`` file, refusing types outside the trusted ones.

    Trusted are skops' defaults (Python builtins, numpy, scipy, scikit-learn
    estimators) and :func:`trusted_types`. Any other type in the file makes
    this raise before anything is built.

    Parameters
    ----------
    path : str or path-like
        A file written by :func:`dump`.
    trusted : list of str or type, default=None
        More types to trust, e.g. a custom step of your own Pipeline. Trust a
        type only if you know where the file comes from: loading it may run
        that type's code.

    Returns
    -------
    model : object
        The loaded model.

    Raises
    ------
    UntrustedTypesError
        The file holds other types; the message names them and the way out.
    FileNotFoundError
        There is no such file.
    """
    import skops.io

    if not Path(path).is_file():
        raise FileNotFoundError(f"model file {str(path)!r} does not exist")
    bad = untrusted_types(path, trusted=trusted)
    if bad:
        raise UntrustedTypesError(
            f"{str(path)!r} holds types sklearn-hallu does not trust: {', '.join(bad)}. "
            "Loading them could run their code. If you trust the file's author and these "
            "types, pass them: sklearn_hallu.persistence.load(path, trusted=[...]) "
            "(command line: --trust TYPE).",
            untrusted=bad,
        )
    return skops.io.load(path, trusted=skops.io.get_untrusted_types(file=path))
