"""Save and load fitted models safely, in the skops format.

A pickle (``joblib.dump``, ``pickle.dump``) runs code chosen by whoever wrote
the file when it is loaded. A ``.skops`` file holds data only: loading builds
objects of listed types, and :func:`load` refuses a file holding a type outside
scikit-learn's, numpy's and the few of this package listed by
:func:`trusted_types`, naming the types before anything is built. It refuses
pickles too, unless asked with ``allow_pickle=True``.

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

import io
import warnings
from pathlib import Path

from .exceptions import PickleNotAllowedError, UntrustedTypesError

__all__ = ["trusted_types", "dump", "load", "untrusted_types"]

#: File names that announce a pickle (``joblib.dump``, ``pickle.dump``).
PICKLE_EXTENSIONS = (".joblib", ".pkl", ".pickle")
#: A skops file is a zip archive; every zip archive starts with these bytes.
ZIP_MAGIC = b"PK\x03\x04"


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


def _read(path):
    """The bytes of ``path``, read once: what is checked is what is loaded."""
    try:
        with open(path, "rb") as f:
            return f.read()
    except FileNotFoundError:
        raise FileNotFoundError(f"model file {str(path)!r} does not exist") from None
    except IsADirectoryError:
        raise IsADirectoryError(f"{str(path)!r} is a folder, not a model file; give the "
                                "file written by sklearn_hallu.persistence.dump") from None


def _not_skops(path):
    return ValueError(
        f"{str(path)!r} is not a skops file (those are zip archives; this one is not). If it "
        "is a pickle (e.g. from joblib.dump), load it with sklearn_hallu.persistence.load("
        "path, allow_pickle=True) only if you trust whoever wrote it: unpickling runs code "
        "stored in the file.")


def _pickle_message(path):
    """The refusal of a pickle: which file, why, and how to convert it to skops once."""
    path = Path(path)
    target = path.with_suffix(".skops")
    if target == path or target.exists():  # the snippet must not replace a file
        target = path.with_name(f"{path.stem}.converted.skops")
    return (f"{str(path)!r} is a pickle: loading it runs code stored in the file, with your "
            "permissions, so it is not loaded unless you allow it. If you made the file or "
            "trust whoever did, convert it once to skops (a skops file holds data only):\n"
            "    from sklearn_hallu import persistence\n"
            f"    model = persistence.load({str(path)!r}, allow_pickle=True)\n"
            f"    persistence.dump(model, {str(target)!r})\n"
            "and use the .skops file from then on (command line: --allow-pickle loads the "
            "pickle as it is).")


def _untrusted(data, path, trusted):
    """The types of skops bytes beyond skops' defaults, and those of them not trusted."""
    import skops.io

    if not data.startswith(ZIP_MAGIC):
        raise _not_skops(path)
    try:
        found = skops.io.get_untrusted_types(data=data)
    except Exception as exc:
        raise ValueError(
            f"{str(path)!r} is a zip archive but not a skops file ({type(exc).__name__}: "
            f"{exc}); give a file written by sklearn_hallu.persistence.dump") from None
    allowed = set(trusted_types()) | {_type_name(t) for t in (trusted or ())}
    return found, [t for t in found if t not in allowed]


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
    return _untrusted(_read(path), path, trusted)[1]


def _load_skops(data, path, trusted):
    import skops.io

    found, bad = _untrusted(data, path, trusted)
    if bad:
        raise UntrustedTypesError(
            f"{str(path)!r} holds types sklearn-hallu does not trust: {', '.join(bad)}. "
            "Loading them could run their code. If you trust the file's author and these "
            "types, pass them: sklearn_hallu.persistence.load(path, trusted=[...]) "
            "(command line: --trust TYPE).",
            untrusted=bad,
        )
    return skops.io.loads(data, trusted=found)  # the very bytes just checked


def _load_pickle(data, path):
    import joblib

    try:
        return joblib.load(io.BytesIO(data))
    except Exception as exc:
        raise ValueError(f"{str(path)!r} is neither a skops file nor a pickle "
                         f"({type(exc).__name__}: {exc})") from None


def load(path, *, trusted=None, allow_pickle=False):
    """Load a ``.skops`` file, refusing types outside the trusted ones.

    Trusted are skops' defaults (Python builtins, numpy, scipy, scikit-learn
    estimators) and :func:`trusted_types`. Any other type in the file makes
    this raise before anything is built. The file is read once: the bytes
    checked are the bytes loaded, even if the file is replaced meanwhile.

    Which format a file is in is read from its first bytes, not its name: a
    skops file named ``.joblib`` is loaded as skops (with a warning to rename
    it); anything else is a pickle, refused unless ``allow_pickle=True``.

    .. versionchanged:: 0.2.0
       Pickles (``.joblib``, ``.pkl``, ``.pickle``) are refused unless
       ``allow_pickle=True``; a skops file with a pickle's name loads as skops;
       the file is read once, so a file replaced between the type check and
       the load cannot slip unchecked types through.

    Parameters
    ----------
    path : str or path-like
        A file written by :func:`dump`.
    trusted : list of str or type, default=None
        More types to trust, e.g. a custom step of your own Pipeline. Trust a
        type only if you know where the file comes from: loading it may run
        that type's code.
    allow_pickle : bool, default=False
        Load a file that is not a skops file as a pickle (``joblib.load``).
        Unpickling runs code stored in the file, with your permissions: allow
        it only for files you made or got from someone you trust, and convert
        them to skops once (``dump(load(path, allow_pickle=True), "model.skops")``).

    Returns
    -------
    model : object
        The loaded model.

    Raises
    ------
    UntrustedTypesError
        The file holds other types; the message names them and the way out.
    PickleNotAllowedError
        The file is a pickle and ``allow_pickle`` is False; the message shows
        how to convert it to skops.
    ValueError
        The file is neither a skops file nor (with ``allow_pickle``) a pickle.
    FileNotFoundError
        There is no such file.

    Warns
    -----
    UserWarning
        A skops file whose name ends like a pickle's (``.joblib``).
    """
    data = _read(path)
    suffix = Path(path).suffix.lower()
    if data.startswith(ZIP_MAGIC):
        if suffix in PICKLE_EXTENSIONS:
            warnings.warn(
                f"{str(path)!r} is a skops file, not a pickle as its name says: loaded as "
                "skops (types checked, no code run). Rename it to "
                f"{Path(path).with_suffix('.skops').name!r}.", UserWarning, stacklevel=2)
        return _load_skops(data, path, trusted)
    if allow_pickle:
        return _load_pickle(data, path)
    if suffix in PICKLE_EXTENSIONS or data[:1] == b"\x80":  # protocol 2+ pickles start so
        raise PickleNotAllowedError(_pickle_message(path))
    raise _not_skops(path)
