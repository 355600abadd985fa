"""Applications built on the library: the command-line tool, the demo, the paper's reproduction.

Run them as ``sklearn-hallu <command>``, ``python -m sklearn_hallu.apps.demo`` and
``python -m sklearn_hallu.apps.reproduce``. All three build their models with
:func:`make_model`.
"""

from ._pipeline import make_model

__all__ = ["make_model"]
