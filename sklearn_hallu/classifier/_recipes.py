"""Named training recipes: sets of :class:`HalluAudioClassifier` parameters.

Each recipe is one that the repository's reproduction trains and scores
(``python -m research.reproduce --recipe NAME``); its results and their commands are in
:doc:`/results` and :doc:`/beyond`.
"""

from __future__ import annotations

__all__ = ["recipe_params", "RECIPE_NAMES"]

# What every recipe of the reproduction shares: training clips rolled along time by 20 to
# 139 of 160 frames (Chou et al.), one draw per clip; 5-way 5-shot validation episodes, 300
# per epoch; the best epoch after the last learning-rate drop.
_COMMON = {"time_shift": (20, 139), "time_shift_per": "clip", "val_n_way": 5,
           "val_k_shot": 5, "val_n_episodes": 300, "checkpoint": "best_after_last_drop"}
# Training lengths: (max_epochs, n_episodes, lr_step).
_LENGTHS = {"paper": (60, None, 20), "paper_kaggle18": (60, None, 30), "cpu": (21, 30, 7),
            "long": (63, 30, 21), "long2x": (126, 30, 42)}
_RECIPES = {name: {"max_epochs": e, "n_episodes": n, "lr_step": step, **_COMMON}
            for name, (e, n, step) in _LENGTHS.items()}
_TPOOL_TTA8 = {"test_time_shifts": 8, "time_pool": (4, 4, 1)}
_RECIPES.update({
    "long_tta8": {**_RECIPES["long"], "test_time_shifts": 8},
    "long_tpool_tta8": {**_RECIPES["long"], **_TPOOL_TTA8},
    "long2x_tpool_tta8": {**_RECIPES["long2x"], **_TPOOL_TTA8},
})
_RECIPES["long2x_tpool_tta8_prop"] = {**_RECIPES["long2x_tpool_tta8"],
                                      "embedding_norm": "batch_propagated_l2"}
_RECIPES["long2x_tpool_tta8_lp"] = {**_RECIPES["long2x_tpool_tta8"],
                                    "embedding_norm": "batch_label_propagated_l2"}
#: The names :func:`recipe_params` knows.
RECIPE_NAMES = tuple(_RECIPES)


def recipe_params(name, **overrides):
    """The :class:`HalluAudioClassifier` parameters of a named recipe.

    Parameters
    ----------
    name : str
        One of ``sklearn_hallu.classifier.RECIPE_NAMES``:

        * ``"paper"``: the paper's training on ESC-50 (60 epochs of one pass over the
          training clips, the learning rate divided by 10 every 20 epochs);
          ``"paper_kaggle18"`` the same with lr / 10 every 30 (its Kaggle18 recipe).
        * ``"cpu"``: 21 epochs of 30 episodes, lr / 10 every 7 (a short recipe).
        * ``"long"``: the reproduction's default (63 epochs of 30 episodes, lr / 10
          every 21); ``"long2x"`` twice as long (126 epochs, lr / 10 every 42).
        * ``"long_tta8"``: ``"long"``, each clip embedded as the mean over 8 circular
          time shifts (``test_time_shifts=8``, 8 forward passes per clip).
        * ``"long_tpool_tta8"``: ``"long_tta8"`` with ``time_pool=(4, 4, 1)``; the
          cheaper preset beside ``"long2x_tpool_tta8"``.
        * ``"long2x_tpool_tta8"``: ``"long_tpool_tta8"`` trained twice as long (126
          epochs, lr / 10 every 42; about 2x the fit time): the most accurate
          inductive recipe on ESC-50's test classes in :doc:`/beyond`.
        * ``"long2x_tpool_tta8_prop"``: ``"long2x_tpool_tta8"`` with the transductive
          ``embedding_norm="batch_propagated_l2"``: a clip's answer depends on the
          other clips classified in the same call (:ref:`propagation`).
        * ``"long2x_tpool_tta8_lp"``: the same, each clip classified by label
          propagation from the supports (``embedding_norm="batch_label_propagated_l2"``,
          transductive, :ref:`label-propagation`).

        All train with random time shifts of 20 to 139 frames (for 160-frame clips,
        :class:`~sklearn_hallu.LogMelTransformer`'s default), score 300 validation
        episodes (5-way 5-shot) per epoch and keep the best epoch after the last
        learning-rate drop when ``validation_classes`` is given.
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
                         f"{', '.join(map(repr, RECIPE_NAMES))}, and give other "
                         "settings as keyword arguments.")
    return {**_RECIPES[name], **overrides}
