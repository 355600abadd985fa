"""How a research command records the line that ran it (the ``Command:`` of its tables)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

__all__ = ["command_line"]

#: The clone the research folder is in.
ROOT = Path(__file__).resolve().parents[1]


def main_clone(root=ROOT):
    """The clone a git worktree at ``root`` belongs to, or None when ``root`` is not one.

    A queue runs from a frozen worktree (``git worktree add``) and writes into the main
    clone; its ``.git`` is a file ``gitdir: <clone>/.git/worktrees/<name>``.
    """
    marker = Path(root) / ".git"
    if not marker.is_file():
        return None
    text = marker.read_text().strip()
    if not text.startswith("gitdir:"):
        return None
    gitdir = Path(text[len("gitdir:"):].strip())
    if gitdir.parent.name != "worktrees" or gitdir.parents[1].name != ".git":
        return None
    return gitdir.parents[2]


def _relative(arg, bases):
    """``arg`` relative to the first of ``bases`` it lies in, when it is an absolute path."""
    if not os.path.isabs(arg):
        return arg
    path = Path(arg)
    for base in bases:
        try:
            return str(path.relative_to(base))
        except ValueError:
            continue
    return arg


def command_line(module, argv=None):
    """``python -m MODULE ARGS``: what was run, as a table records it.

    Absolute paths inside the current directory, the clone, or (when the clone is a git
    worktree) the main clone it belongs to are written relative to it, so that a table
    made from a queue script reads as one a user runs from the clone's root. Other
    arguments are kept as given.

    Parameters
    ----------
    module : str
        The module run with ``python -m``, e.g. ``"research.transfer.layers"``.
    argv : list of str or None, default=None
        Its arguments; ``None`` reads ``sys.argv[1:]``.

    Returns
    -------
    str
    """
    args = sys.argv[1:] if argv is None else list(argv)
    bases = [Path.cwd().resolve(), ROOT, *filter(None, [main_clone()])]
    return " ".join(["python -m", module, *(_relative(a, bases) for a in args)])
