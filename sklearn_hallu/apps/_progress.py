"""Progress on stderr that suits where stderr goes, and output without colour codes.

On a terminal, :class:`Progress` is a tqdm bar; when stderr is a file or a pipe
(a log, CI) it prints a plain line now and then instead (no carriage returns,
no escape codes); disabled (``--no-progress``), it prints nothing.
:func:`plain_text_streams` strips ANSI escape codes (skorch's coloured epoch
table, for one) from stdout and stderr while they are not terminals.
"""

from __future__ import annotations

import contextlib
import os
import re
import sys
import time

__all__ = ["Progress", "plain_text_streams", "ANSI_ESCAPE"]

#: An ANSI escape sequence: CSI (colours, cursor moves) or a two-byte escape.
ANSI_ESCAPE = re.compile(r"\x1b(?:\[[0-?]*[ -/]*[@-~]|[@-Z\\-_])")


def _is_terminal(stream):
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):
        return False


class Progress:
    """Count work done: a bar on a terminal; elsewhere a line every 30 s, or every 5 s when
    another 10 % is done, and one at the end.

    Parameters
    ----------
    total : int
        Items to do.
    desc : str
        What is counted, e.g. ``"predict"``.
    unit : str, default="file"
        The item's name.
    enabled : bool, default=True
        False prints nothing (``--no-progress``).
    every_s : float, default=30.0
        Without a terminal, the longest time between two lines (the shortest is a
        sixth of it).
    """

    def __init__(self, total, desc, *, unit="file", enabled=True, every_s=30.0):
        self.total, self.desc, self.unit, self.every_s = int(total), desc, unit, every_s
        self.stream = sys.stderr
        self.n, self._shown, self._bar = 0, 0, None
        self.start = self._last = time.monotonic()
        self.mode = None if not enabled or self.total == 0 else (
            "bar" if _is_terminal(self.stream) else "lines")
        if self.mode == "bar":
            from tqdm.auto import tqdm

            self._bar = tqdm(total=self.total, desc=desc, unit=unit, file=self.stream,
                             dynamic_ncols=True)

    def update(self, k=1):
        """Count ``k`` more items done."""
        self.n += k
        if self.mode == "bar":
            self._bar.update(k)
        elif self.mode == "lines":
            now = time.monotonic()
            waited = now - self._last
            if waited >= self.every_s or (
                    waited >= self.every_s / 6 and (self.n - self._shown) * 10 >= self.total):
                self._line(now)

    def _line(self, now):
        rate = self.n / max(now - self.start, 1e-9)
        left = (self.total - self.n) / rate if rate > 0 else float("nan")
        eta = f", about {left:.0f} s left" if self.n < self.total else ""
        print(f"{self.desc}: {self.n}/{self.total} {self.unit}s "
              f"({100 * self.n / self.total:.0f}%), {rate:.1f} {self.unit}s/s{eta}",
              file=self.stream, flush=True)
        self._shown, self._last = self.n, now

    def close(self):
        """Close the bar, or print the last line if it was not printed."""
        if self.mode == "bar":
            self._bar.close()
        elif self.mode == "lines" and self._shown != self.n:
            self._line(time.monotonic())
        self.mode = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False


class _NoEscapes:
    """A text stream that drops ANSI escape sequences on the way to ``stream``."""

    def __init__(self, stream):
        self._stream = stream

    def write(self, text):
        self._stream.write(ANSI_ESCAPE.sub("", text))
        return len(text)

    def isatty(self):
        return False

    def __getattr__(self, name):
        return getattr(self._stream, name)


@contextlib.contextmanager
def plain_text_streams():
    """Strip ANSI escape codes from ``sys.stdout`` and ``sys.stderr`` inside the block.

    Each stream is wrapped only when it is not a terminal, or when ``NO_COLOR``
    is set (https://no-color.org); the streams are restored at the end.
    """
    no_color = bool(os.environ.get("NO_COLOR"))
    saved = sys.stdout, sys.stderr
    wrap = [no_color or not _is_terminal(s) for s in saved]
    try:
        if wrap[0]:
            sys.stdout = _NoEscapes(saved[0])
        if wrap[1]:
            sys.stderr = _NoEscapes(saved[1])
        yield
    finally:
        sys.stdout, sys.stderr = saved
