"""Applications built on the library: the command-line tool and the demo.

Run them as ``sklearn-hallu <command>`` and ``python -m sklearn_hallu.apps.demo``.
Both build their models with :func:`make_model` (and so does the paper's
reproduction, ``research/reproduce`` in the repository).
"""

__all__ = ["make_model"]


def __getattr__(name):  # lazy, so that the command line's --help needs no torch
    if name == "make_model":
        from ._pipeline import make_model

        return make_model
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
