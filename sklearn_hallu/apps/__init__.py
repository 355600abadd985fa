"""Applications built on the library: the command-line tool, the demo, the paper's reproduction.

Run them as ``sklearn-hallu <command>``, ``python -m sklearn_hallu.apps.demo`` and
``python -m sklearn_hallu.apps.reproduce``. All three build their models with
:func:`make_model`.
"""

__all__ = ["make_model"]


def __getattr__(name):  # lazy, so that the command line's --help needs no torch
    if name == "make_model":
        from ._pipeline import make_model

        return make_model
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
