"""Walk a folder of clips, following symlinks, and account for every entry.

git-annex and DVC keep data as symlinks, so a link whose target is absent
(content not fetched), a link that leads back to itself, or a link to a folder
above it must be named, never skipped in silence. :func:`walk` returns the
files it reached, the entries that cannot be read (``broken``) and the folder
links it did not follow (``loops``); the callers decide what each means.
"""

from __future__ import annotations

import contextlib
import errno
import os
import sys
from pathlib import Path

__all__ = ["walk", "broken_message", "report_loops", "link_reason"]

#: What to do about unreadable entries, said once after the list of them.
WAY_OUT = ("fetch the content of annexed/DVC files (git annex get, dvc pull), point the "
           "links at existing files, or remove them")


def link_reason(path):
    """Why ``path`` cannot be followed (a short phrase), or None when it resolves."""
    try:
        os.stat(path)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            return "a symlink loop (it leads back to itself)"
        if os.path.islink(path):
            return f"a dangling symlink to {os.readlink(path)!r} (the target does not exist)"
        return f"cannot be read ({exc.strerror})"
    return None


def _key(path):
    st = os.stat(path)
    return st.st_dev, st.st_ino


def _entries(folder, broken):
    try:
        with os.scandir(folder) as it:
            return sorted(it, key=lambda e: e.name)
    except OSError as exc:
        broken.append((Path(folder), f"a folder that cannot be listed ({exc.strerror})"))
        return []


def walk(folder):
    """Every entry under ``folder``, symlinks followed; hidden files (``.name``) left out.

    Parameters
    ----------
    folder : path-like
        An existing folder.

    Returns
    -------
    files : list of Path
        Regular files reached (through links too), sorted, named by the path
        inside ``folder`` (links are not resolved).
    broken : list of (Path, str)
        Entries that cannot be read, with a short reason: dangling symlinks,
        symlink loops, folders that cannot be listed, special files.
    loops : list of (Path, Path)
        Links to a folder already read, or to one that holds ``folder`` (a
        cycle), not followed, with the folder they lead to.
    """
    files, broken, loops = [], [], []
    root = Path(folder)
    seen = {}
    for above in reversed(Path(os.path.abspath(root)).parents):  # a link up is a loop too
        with contextlib.suppress(OSError):
            seen[_key(above)] = above
    seen[_key(root)] = root
    stack = [root]
    while stack:
        here = stack.pop()
        for entry in _entries(here, broken):
            path = Path(entry.path)
            reason = link_reason(path) if entry.is_symlink() else None
            if reason is not None:
                if not entry.name.startswith("."):
                    broken.append((path, reason))
            elif entry.is_dir():
                key = _key(path)
                if key in seen:
                    loops.append((path, seen[key]))
                else:
                    seen[key] = path
                    stack.append(path)
            elif entry.name.startswith("."):
                continue
            elif entry.is_file():
                files.append(path)
            else:
                broken.append((path, "not a regular file (a socket, pipe or device)"))
    return sorted(files), sorted(broken), sorted(loops)


def broken_message(broken, where, *, hint=""):
    """One message listing every unreadable entry with its reason, and the way out."""
    shown = "; ".join(f"{str(p)!r}: {why}" for p, why in broken[:10])
    more = f"; and {len(broken) - 10} more" if len(broken) > 10 else ""
    return (f"{len(broken)} entr{'y' if len(broken) == 1 else 'ies'} of {where} cannot be "
            f"read: {shown}{more}. Nothing is left out in silence: {WAY_OUT}{hint}")


def report_loops(loops, where):
    """Warn about folder links that were not followed (cycles, second ways in)."""
    if not loops:
        return
    shown = ", ".join(f"{str(p)!r} -> {str(t)!r}" for p, t in loops[:5])
    more = f" and {len(loops) - 5} more" if len(loops) > 5 else ""
    print(f"warning: {len(loops)} folder link(s) in {where} lead to a folder already read, "
          f"or to one that holds {where} (a cycle), and are not followed: {shown}{more}",
          file=sys.stderr)
