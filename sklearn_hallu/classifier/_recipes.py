"""Named training recipes: sets of :class:`HalluAudioClassifier` parameters.

Each recipe is one that the repository's reproduction trains and scores
(``python -m research.reproduce --recipe NAME``); its results and their commands are in
:doc:`/results` and :doc:`/beyond`.
"""

from __future__ import annotations

__all__ = ["recipe_params", "RECIPE_NAMES"]

# The reproduction's training clips are rolled along time by 20 to 139 of 160 frames
# (Chou et al.), one draw per clip.
_SHIFT = {"time_shift": (20, 139), "time_shift_per": "clip"}
_LONG = {"max_epochs": 63, "n_episodes": 30, "lr_step": 21, **_SHIFT,
         "checkpoint": "best_after_last_drop"}
_RECIPES = {
    # The paper's: 60 epochs of one pass over the training clips, lr / 10 every 20.
    "paper": {"max_epochs": 60, "n_episodes": None, "lr_step": 20, **_SHIFT,
              "checkpoint": "best_after_last_drop"},
    # The reproduction's default: 63 epochs of 30 episodes, lr / 10 every 21.
    "long": _LONG,
    # The same, each clip's embedding the mean over 8 circular time shifts.
    "long_tta8": {**_LONG, "test_time_shifts": 8},
    # The same with the last block unpooled along time (10 time cells instead of 3).
    "long_tpool_tta8": {**_LONG, "test_time_shifts": 8, "time_pool": (4, 4, 1)},
    # Twice the training of "long_tpool_tta8": 126 epochs, lr / 10 every 42.
    "long2x_tpool_tta8": {**_LONG, "max_epochs": 126, "lr_step": 42,
                          "test_time_shifts": 8, "time_pool": (4, 4, 1)},
}
#: The names :func:`recipe_params` knows.
RECIPE_NAMES = tuple(_RECIPES)


def recipe_params(name, **overrides):
    """The :class:`HalluAudioClassifier` parameters of a named recipe.

    Parameters
    ----------
    name : str
        One of ``sklearn_hallu.classifier.RECIPE_NAMES``:

        * ``"paper"``: the paper's training (60 epochs of one pass over the training
          clips, the learning rate divided by 10 every 20 epochs).
        * ``"long"``: the reproduction's default (63 epochs of 30 episodes, lr / 10
          every 21); the fit time of the defaults.
        * ``"long_tta8"``: ``"long"``, each clip embedded as the mean over 8 circular
          time shifts (``test_time_shifts=8``, 8 forward passes per clip).
        * ``"long_tpool_tta8"``: ``"long_tta8"`` with ``time_pool=(4, 4, 1)``; the
          cheaper preset beside ``"long2x_tpool_tta8"``.
        * ``"long2x_tpool_tta8"``: ``"long_tpool_tta8"`` trained twice as long (126
          epochs, lr / 10 every 42; about 2x the fit time): the most accurate on
          ESC-50's test classes in :doc:`/beyond`.

        All train with random time shifts of 20 to 139 frames (for 160-frame clips,
        :class:`~sklearn_hallu.LogMelTransformer`'s default) and keep the best epoch
        after the last learning-rate drop when ``validation_classes`` is given.
    **overrides
        Parameters that replace the recipe's or add to it (``validation_classes``,
        ``device``, ``random_state``, ...).

    Returns
    -------
    dict
        Keyword arguments of :class:`HalluAudioClassifier` (a new dict each call).

    Raises
    ------
    ValueError
        If ``name`` is not a known recipe.

    Examples
    --------
    >>> from sklearn_hallu import HalluAudioClassifier
    >>> from sklearn_hallu.classifier import recipe_params
    >>> clf = HalluAudioClassifier(**recipe_params("long2x_tpool_tta8", validation_classes=5))
    >>> clf.max_epochs, clf.lr_step, clf.time_pool, clf.test_time_shifts
    (126, 42, (4, 4, 1), 8)
    """
    if name not in _RECIPES:
        raise ValueError(f"recipe_params: unknown recipe {name!r}; choose one of "
                         f"{', '.join(map(repr, RECIPE_NAMES))}.")
    return {**_RECIPES[name], **overrides}
