"""Where ``sklearn-hallu predict`` writes: stdout, or ``--out FILE`` through a partial file.

With ``--out FILE`` the rows go, as each batch is ready, to ``FILE.partial``
beside ``FILE`` (its run's settings in ``FILE.partial.json``); at the end the
partial file is renamed to ``FILE`` in one step (``os.replace``), so a run that
fails or is interrupted never touches a ``FILE`` already there. A new run with
the same ``--out`` finds ``FILE.partial``, checks that the same model, support
set and options made it, and skips the files it already holds. Files that
could not be used are listed in ``FILE.errors.csv`` (``file,reason``).
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import os
import sys
from pathlib import Path

from ._cli_files import CLIError

__all__ = ["RowWriter", "run_key", "write_errors", "partial_paths", "SKIPPED_EXIT"]

#: Exit status of a ``predict --on-error skip`` run that finished but left files out.
SKIPPED_EXIT = 3


def partial_paths(out):
    """``(partial rows, its settings, the errors file)`` of ``--out out``."""
    out = Path(out)
    return (out.with_name(out.name + ".partial"), out.with_name(out.name + ".partial.json"),
            out.with_name(out.name + ".errors.csv"))


def _sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def run_key(args, support_files, columns):
    """What makes two runs' rows interchangeable: model bytes, support clips, options."""
    h = hashlib.sha256()
    for f in sorted(support_files):
        st = os.stat(f)
        h.update(f"{f}\0{st.st_size}\0{st.st_mtime_ns}\n".encode())
    return {"model": _sha256(args.model), "support": h.hexdigest(), "crop": args.crop,
            "pool": args.pool, "format": args.format, "columns": list(columns)}


def _row_text(fmt, classes, r):
    label = str(r.label)
    if fmt == "json":
        return json.dumps({"file": r.path, "label": label,
                           "proba": dict(zip(classes, map(float, r.proba)))}) + "\n"
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\n").writerow(
        [r.path, label] + [f"{v:.6f}" for v in r.proba])
    return buf.getvalue()


def _cut_torn_row(partial):
    """Drop a last row a crash left unfinished (it is predicted again); the size left."""
    with open(partial, "rb+") as f:
        size = f.seek(0, os.SEEK_END)
        f.seek(max(0, size - (1 << 16)))
        tail = f.read()
        if tail.endswith(b"\n") or not tail:
            return size
        end = size - len(tail) + tail.rfind(b"\n") + 1  # 0 when no newline at all
        f.truncate(end)
        return end


def _done_rows(partial, fmt):
    """The files a partial file holds (read a line at a time)."""
    with open(partial, newline="") as f:
        if fmt == "json":
            return {json.loads(line)["file"] for line in f if line.strip()}
        rows = csv.reader(f)
        next(rows, None)  # the header
        return {row[0] for row in rows if row}


class RowWriter:
    """Rows to stdout (``out=None``) or to ``out`` through its partial file.

    Parameters
    ----------
    fmt : {"csv", "json"}
        Output format.
    classes : list of str
        Class names, the probability columns.
    out : path-like or None
        ``--out``; None writes to stdout.
    key : dict or None
        :func:`run_key` of this run, compared with a partial file's.
    """

    def __init__(self, fmt, classes, out=None, key=None):
        self.fmt, self.classes, self.out, self.key = fmt, list(classes), out, key
        self.header = "file,label," + ",".join(f"p_{c}" for c in classes) + "\n"
        self.done, self.n_written, self._first = set(), 0, True
        if out is None:
            self.stream = sys.stdout
            self.stream.write(self.header if fmt == "csv" else "[\n")
            return
        self.out = Path(out)
        self.partial, self.meta, self.errors = partial_paths(out)
        if self.partial.exists():
            self._resume()
        else:
            self.out.parent.mkdir(parents=True, exist_ok=True)
            self.meta.write_text(json.dumps(key, indent=1) + "\n")
            self.stream = open(self.partial, "w", newline="")
            if fmt == "csv":
                self.stream.write(self.header)
            self._sync()

    def _resume(self):
        try:
            made = json.loads(self.meta.read_text())
        except (OSError, ValueError):
            made = None
        if made != self.key:
            what = ("nothing says which run made it" if made is None else
                    "it was made by another run: "
                    + ", ".join(k for k in self.key if made.get(k) != self.key[k]) + " differ")
            raise CLIError(
                f"{str(self.partial)!r} holds rows of an unfinished run, but {what}. Delete it "
                f"(rm {str(self.partial)!r} {str(self.meta)!r}) to start over, or give "
                "another --out")
        empty = _cut_torn_row(self.partial) == 0
        self.done = _done_rows(self.partial, self.fmt)
        self.stream = open(self.partial, "a", newline="")
        if empty and self.fmt == "csv":
            self.stream.write(self.header)

    def write(self, r):
        """Add the row of one predicted file (a :class:`~sklearn_hallu.FilePrediction`)."""
        text = _row_text(self.fmt, self.classes, r)
        if self.out is None and self.fmt == "json":
            text = ("" if self._first else ",\n") + text.rstrip("\n")
        self._first = False
        self.stream.write(text)
        self.n_written += 1

    def _sync(self):
        self.stream.flush()
        if self.out is not None:
            os.fsync(self.stream.fileno())

    def flush(self):
        """Make the rows written so far reach the file (a batch at a time)."""
        self._sync()

    def finish(self):
        """Close the output: the partial file becomes ``out`` in one step."""
        if self.out is None:
            if self.fmt == "json":
                self.stream.write(("" if self._first else "\n") + "]\n")
            self.stream.flush()
            return
        self._sync()
        self.stream.close()
        if self.fmt == "json":
            _json_array(self.partial, self.out)
            self.partial.unlink()
        else:
            os.replace(self.partial, self.out)
        self.meta.unlink(missing_ok=True)

    def keep(self):
        """Leave the partial file for a later run (an error, Ctrl-C)."""
        if self.out is None:
            self.stream.flush()
        elif not self.stream.closed:
            self._sync()
            self.stream.close()


def _json_array(lines_path, out):
    """Turn a file of JSON lines into one JSON array at ``out``, atomically."""
    tmp = out.with_name(f".{out.name}.tmp-{os.getpid()}")
    try:
        with open(lines_path) as src, open(tmp, "w") as dst:
            dst.write("[")
            first = True
            for line in src:
                if line.strip():
                    dst.write(("\n" if first else ",\n") + line.rstrip("\n"))
                    first = False
            dst.write("\n]\n")
            dst.flush()
            os.fsync(dst.fileno())
        os.replace(tmp, out)
    finally:
        tmp.unlink(missing_ok=True)


def write_errors(out, errors):
    """Write ``out``'s errors file (``file,reason``), or remove an old one when none."""
    path = partial_paths(out)[2]
    if not errors:
        path.unlink(missing_ok=True)
        return None
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        with open(tmp, "w", newline="") as f:
            w = csv.writer(f, lineterminator="\n")
            w.writerow(["file", "reason"])
            w.writerows(errors)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path
