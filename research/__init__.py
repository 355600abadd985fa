"""Research around sklearn-hallu: the paper's reproduction and the studies behind its defaults.

Not part of the installed package. Run from a clone's root, e.g.
``python -m research.reproduce --help`` or ``python -m research.ablation --help``.
Everything here imports only the public API of ``sklearn_hallu``; results live
in ``research/results/`` and ``docs/results/``.
"""
