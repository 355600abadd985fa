"""Class-disjoint cross-validation: folds made of whole classes."""

from __future__ import annotations

from numbers import Integral

import numpy as np
from sklearn.model_selection import BaseCrossValidator
from sklearn.utils import check_random_state

__all__ = ["ClassKFold"]


class ClassKFold(BaseCrossValidator):
    """K folds of whole classes: no class is in both the train and test part.

    Like ``GroupKFold(n_splits).split(X, y, groups=y)`` but needs no
    ``groups``, and shuffles the classes with ``random_state``, so it works as
    ``cv=`` anywhere scikit-learn takes a splitter. ``split`` refuses to make a
    test fold of fewer than ``min_classes`` classes: set it to the scorer's
    ``n_way`` and a search that no candidate could pass (every fold's
    :class:`FewShotScorer` would fail, every score be NaN) stops before the first
    fit, with a message that says how many folds are possible.

    Parameters
    ----------
    n_splits : int, default=5
        Number of folds.
    min_classes : int, default=2
        Fewest classes a test fold may hold (each fold holds
        ``n_classes // n_splits`` or one more). An N-way few-shot scorer needs
        ``N``; the default 2 only refuses one-class folds, which no few-shot
        scorer can use.
    shuffle : bool, default=True
        Shuffle the classes before cutting them into folds.
    random_state : int or None, default=None
        Seeds the shuffle.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_hallu.model_selection import ClassKFold
    >>> y = np.repeat(np.arange(6), 3)
    >>> [sorted(set(y[test].tolist())) for _, test in ClassKFold(3, random_state=0).split(y, y)]
    [[2, 5], [1, 3], [0, 4]]
    """

    def __init__(self, n_splits=5, *, min_classes=2, shuffle=True, random_state=None):
        if not isinstance(n_splits, Integral) or n_splits < 2:
            raise ValueError(f"n_splits must be an integer >= 2, got {n_splits!r}.")
        if not isinstance(min_classes, Integral) or min_classes < 1:
            raise ValueError(f"min_classes must be an integer >= 1, got {min_classes!r}.")
        self.n_splits = n_splits
        self.min_classes = min_classes
        self.shuffle = shuffle
        self.random_state = random_state

    def _iter_test_indices(self, X=None, y=None, groups=None):
        if y is None:
            raise ValueError("ClassKFold needs y: folds are made of whole classes of y.")
        y = np.asarray(y)
        classes = np.unique(y)
        if len(classes) < self.n_splits:
            raise ValueError(
                f"Cannot split {len(classes)} classes into n_splits={self.n_splits} "
                "class-disjoint folds. Lower n_splits."
            )
        self._check_fold_size(len(classes))
        if self.shuffle:
            classes = check_random_state(self.random_state).permutation(classes)
        for fold_classes in np.array_split(classes, self.n_splits):
            yield np.flatnonzero(np.isin(y, fold_classes))

    def _check_fold_size(self, n_classes):
        smallest, m = n_classes // self.n_splits, self.min_classes
        if smallest >= m:
            return
        sizes = (f"{smallest} class" + "es" * (smallest != 1) if n_classes % self.n_splits == 0
                 else f"{smallest} to {smallest + 1} classes")
        fix = (f"Use n_splits <= {n_classes // m}" if n_classes // m >= 2 else
               f"{n_classes} classes are too few for two folds of {m}: add classes")
        raise ValueError(
            f"ClassKFold(n_splits={self.n_splits}) cuts {n_classes} classes into test folds "
            f"of {sizes}, fewer than min_classes={m} (an N-way few-shot scorer needs N "
            f"classes in every test fold, or every score is NaN). {fix}"
            + (", or lower the scorer's n_way and min_classes with it." if m > 2 else ".")
        )

    def get_n_splits(self, X=None, y=None, groups=None):
        return self.n_splits
