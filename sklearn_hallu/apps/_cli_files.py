"""The command line's file handling: folders of clips, model files, devices, Ctrl-C."""

from __future__ import annotations

import argparse
import contextlib
import os
import re
import signal
import sys
import warnings
from pathlib import Path

import numpy as np

AUDIO_EXTENSIONS = {".wav", ".flac", ".ogg", ".mp3", ".aiff", ".aif", ".au"}
#: Model files with these extensions are pickles (joblib); any other is a skops file.
PICKLE_EXTENSIONS = {".joblib", ".pkl", ".pickle"}
PICKLE_WARNING = (
    "warning: {path} is a pickle, loaded because of --allow-pickle: loading it runs code "
    "stored in the file, with your permissions. Convert it once to .skops (the default of "
    "'sklearn-hallu train'; see sklearn_hallu.persistence.load) and drop --allow-pickle."
)


class CLIError(Exception):
    """An error the user can fix; printed without a traceback, exit code 2."""


def _report_ignored(ignored, where):
    """Print the files a folder holds that are not used (none disappears silently)."""
    if not ignored:
        return
    names = ", ".join(repr(str(f)) for f in ignored[:5])
    more = f" and {len(ignored) - 5} more" if len(ignored) > 5 else ""
    print(f"warning: {len(ignored)} file(s) in {where} are not audio files this tool reads "
          f"and are ignored: {names}{more}. Readable: {', '.join(sorted(AUDIO_EXTENSIONS))} "
          "(convert e.g. .m4a with ffmpeg).", file=sys.stderr)


def scan_folder(folder, *, min_per_class=1, hint="add clips or lower --k-shot/--n-query",
                errors=None):
    """Audio files of a folder with one sub-folder per class.

    Every entry is either used or reported. Symlinks are followed (git-annex and
    DVC data are links). Files with another extension are listed in a warning;
    a link to a folder already read is not followed, with a warning; an entry
    that cannot be read (a dangling symlink, a symlink loop, a folder that
    cannot be listed) is an error naming every such entry at once, or, when
    ``errors`` is a list, is appended to it as ``(path, reason)``, listed in a
    warning and left out. A class folder without any audio file is an error.

    Returns
    -------
    files : list of str
    labels : ndarray of str
    """
    from ._walk import broken_message, report_loops, walk

    folder = Path(folder)
    if not folder.is_dir():
        raise CLIError(f"folder {str(folder)!r} does not exist (expected one sub-folder per "
                       "class, each holding audio files)")
    everything, broken, loops = walk(folder)
    where = repr(str(folder))
    if broken and errors is None:
        raise CLIError(broken_message(broken, where))
    if broken:
        print(f"warning: {broken_message(broken, where, hint='; they are left out')}",
              file=sys.stderr)
        errors.extend((str(p), why) for p, why in broken)
    report_loops(loops, where)
    files, labels, ignored, by_class = [], [], [], {}
    for f in everything:
        parts = f.relative_to(folder).parts
        if len(parts) == 1:
            ignored.append(f)  # outside any class folder
            continue
        by_class.setdefault(parts[0], []).append(f)
    empty = []
    for name, inside in sorted(by_class.items()):
        found = [f for f in inside if f.suffix.lower() in AUDIO_EXTENSIONS]
        ignored += [f for f in inside if f.suffix.lower() not in AUDIO_EXTENSIONS]
        if not found:
            kinds = sorted({f.suffix.lower() or "(no extension)" for f in inside})
            empty.append(f"{name} ({len(inside)} file(s): {', '.join(kinds)})")
        files += [str(f) for f in found]
        labels += [name] * len(found)
    if empty:
        raise CLIError(f"class folder(s) {', '.join(empty)} in {str(folder)!r} hold no audio "
                       f"file this tool reads ({', '.join(sorted(AUDIO_EXTENSIONS))}); "
                       "convert the files (e.g. ffmpeg -i clip.m4a clip.wav) or remove "
                       "the folder")
    if not files:
        raise CLIError(f"no audio files found in sub-folders of {str(folder)!r}; expected "
                       f"<class>/<clip>{{{','.join(sorted(AUDIO_EXTENSIONS))}}}")
    _report_ignored(sorted(ignored), where)
    labels = np.asarray(labels)
    names, counts = np.unique(labels, return_counts=True)
    small = [f"{n} ({c})" for n, c in zip(names, counts) if c < min_per_class]
    if small:
        raise CLIError(f"class(es) {', '.join(small)} in {str(folder)!r} have fewer than the "
                       f"{min_per_class} clips needed; {hint}")
    return files, labels


def _read_one(f, sr, min_samples):
    """``(waveform, None)``, or ``(None, reason)`` naming the file."""
    from ..preprocessing import load_audio
    from ._walk import link_reason

    if os.path.islink(f) and (why := link_reason(f)) is not None:
        return None, f"file {f!r} is {why}"
    try:
        y = load_audio(f, sr)
    except ValueError as exc:
        return None, str(exc)
    if y.shape[0] < min_samples:
        return None, (f"file {f!r} is {1000 * y.shape[0] / sr:.1f} ms long, shorter than one "
                      f"analysis frame ({min_samples} samples at {sr} Hz); remove it")
    return y, None


def unreadable_message(bad, n_files, hint=""):
    """One message naming every unreadable file (the first 10) with its reason."""
    shown = "; ".join(why.rstrip(". ") for _, why in bad[:10])
    more = f"; and {len(bad) - 10} more" if len(bad) > 10 else ""
    return (f"{len(bad)} of {n_files} files cannot be used: {shown}{more}. Fix or remove "
            f"them{hint}")


def read_clips(files, *, sr, verbose=True, min_samples=1, duration=None, crop="start",
               errors=None, hint=""):
    """Load audio files (progress on stderr), naming every file that cannot be read.

    All files are read first; then the unreadable ones (missing, a dangling
    symlink, not decodable, shorter than ``min_samples``, one analysis frame)
    are named together in one error (``hint`` is added to its way out), or, when
    ``errors`` is a list, appended to it as ``(file, reason)``, with ``None`` in
    their place in the output. Files longer than ``duration`` seconds are listed
    with what ``crop`` keeps.
    """
    from ._progress import Progress

    out, bad = [], []
    with Progress(len(files), "reading audio", unit="clip", enabled=verbose) as progress:
        for f in files:
            y, why = _read_one(f, sr, min_samples)
            if why is not None:
                bad.append((f, why))
            out.append(y)
            progress.update()
    if bad and errors is None:
        raise CLIError(unreadable_message(bad, len(files), hint))
    if bad:
        errors.extend(bad)
    if duration is not None:
        n = int(round(duration * sr))
        long = [(f, y.shape[0] / sr) for f, y in zip(files, out)
                if y is not None and y.shape[0] - n > sr // 1000]
        report_cut(long, len(files), duration, crop)
    return out


def report_cut(long, n_files, duration, crop, count=None):
    """Warn about the files longer than ``duration``: ``long`` holds (file, seconds) of the
    first five at least, ``count`` (default ``len(long)``) how many there are."""
    count = len(long) if count is None else count
    if count:
        kept = {"start": "first", "loudest": "loudest"}.get(crop, "middle")
        names = ", ".join(f"{os.path.basename(f)!r} ({d:.1f} s)" for f, d in long[:5])
        more = f" and {count - 5} more" if count > 5 else ""
        print(f"warning: {count} of {n_files} clips are longer than {duration:g} s "
              f"and are cut to their {kept} {duration:g} s (--crop {crop}): {names}{more}",
              file=sys.stderr)


@contextlib.contextmanager
def warnings_by_file(files):
    """Name files, not positions, in the library's clip warnings raised inside the block.

    The command line gives the library the waveforms it read, so the library's
    warnings say "clip 3". Inside this block a
    :class:`~sklearn_hallu.exceptions.SilentClipWarning` is printed naming the
    files (``files[i]`` for each index), an ``AudioCroppedWarning`` is dropped
    (:func:`read_clips` listed the cut files already), and any other warning is
    issued again as it came.
    """
    caught = []
    try:
        with warnings.catch_warnings(record=True) as caught:
            yield
    finally:
        _reissue(caught, files)


def _reissue(caught, files):
    from ..exceptions import AudioCroppedWarning, SilentClipWarning

    for w in caught:
        if isinstance(w.message, SilentClipWarning) and w.message.indices:
            idx = [i for i in w.message.indices if i < len(files)]
            report_silent([files[i] for i in idx[:5]], len(idx), len(files))
        elif not isinstance(w.message, AudioCroppedWarning):
            warnings.warn_explicit(w.message, w.category, w.filename, w.lineno,
                                   source=w.source)


def report_silent(names, count, n_files):
    """Warn that ``count`` of ``n_files`` files are silent, naming the first five."""
    if count:
        shown = ", ".join(repr(str(f)) for f in names[:5])
        more = f" and {count - 5} more" if count > 5 else ""
        print(f"warning: {count} of {n_files} files are silent (no energy above about -80 "
              f"dB): {shown}{more}. They are represented as silence, not as sound; remove "
              "them if they are not meant as silence.", file=sys.stderr)


def _positive(kind, minimum=1):
    """An argparse type: a number of ``kind`` at least ``minimum``, else a plain message."""
    def parse(text):
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"expected {'an integer' if kind is int else 'a number'}, got {text!r}"
            ) from None
        if value <= 0 if kind is float else value < minimum:
            raise argparse.ArgumentTypeError(
                f"must be {'at least ' + str(minimum) if kind is int else 'positive'}, "
                f"got {text}")
        return value

    parse.__name__ = kind.__name__
    return parse


def parse_channels(text):
    """``--channels``: three or more positive widths, separated by commas or spaces."""
    parts = [p for p in re.split(r"[,\s]+", text.strip()) if p]
    try:
        widths = tuple(int(p) for p in parts)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected channel widths as integers separated by commas, e.g. 64,64,64; "
            f"got {text!r}") from None
    if not widths or min(widths) < 1:
        raise argparse.ArgumentTypeError(f"channel widths must be positive integers, got {text!r}")
    return widths


def model_path(out):
    """Where ``train`` writes: ``out``, with ``.skops`` added when it has no extension."""
    out = Path(out)
    return out if out.suffix else out.with_name(out.name + ".skops")


def save_model(pipe, path, *, overwrite=False):
    """Write a skops file, or a pickle when the extension asks for one (``.joblib``).

    The model goes to a temporary file beside ``path``, then takes its name
    atomically: an interrupted or failed write never leaves a half-written
    model, and a model already at ``path`` stays as it was. Without
    ``overwrite`` the name is taken only if still free (a hard link, which
    fails when the file exists): if another program wrote ``path`` meanwhile,
    the new model is kept beside it under another name, and the error says so.

    Parameters
    ----------
    pipe : object
        The fitted model.
    path : path-like
        The file to write.
    overwrite : bool, default=False
        Replace a file already at ``path`` (``os.replace``, atomic).
    """
    path = Path(path)
    tmp = path.with_name(f".{path.stem}.partial-{os.getpid()}{path.suffix}")
    try:
        if path.suffix.lower() in PICKLE_EXTENSIONS:
            import joblib

            joblib.dump(pipe, tmp)
        else:
            from ..persistence import dump

            dump(pipe, tmp)
        if overwrite:
            os.replace(tmp, path)
        else:
            _publish_new(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


def _publish_new(tmp, path):
    """Give ``tmp`` the name ``path`` only if no file has it; else keep it and say where."""
    try:
        os.link(tmp, path)  # atomic, and never replaces a file
        return
    except FileExistsError:
        pass
    except OSError:  # a file system without hard links: check, then rename
        if not path.exists():
            os.replace(tmp, path)
            return
    kept = path.with_name(f"{path.stem}.new-{os.getpid()}{path.suffix}")
    os.replace(tmp, kept)
    raise CLIError(f"{str(path)!r} appeared while training (written by another program); it "
                   f"is left as it was and the new model is saved as {str(kept)!r}: rename it "
                   "yourself, or train again with --force to replace the file")


def _lock_owner(lock):
    """Who holds ``lock``, from the pid and host it holds, and whether that process is gone."""
    import socket

    try:
        pid, host = lock.read_text().split()[:2]
        pid = int(pid)
    except (OSError, ValueError):
        return "another 'sklearn-hallu train'", False
    gone = False
    if host == socket.gethostname() and os.name == "posix":
        try:
            os.kill(pid, 0)  # signal 0: only asks whether the process exists
        except ProcessLookupError:
            gone = True
        except PermissionError:  # it exists, run by another user
            pass
    return f"'sklearn-hallu train' (pid {pid} on {host})", gone


@contextlib.contextmanager
def claim_output(path):
    """Hold ``<path>.lock`` while a model for ``path`` is trained and written.

    The lock file is created with ``O_CREAT | O_EXCL``: of two runs writing to
    the same file, only one gets it, and the other stops with an error naming
    the lock before it trains. The lock holds the pid and host of its owner
    and is removed at the end, also on errors and Ctrl-C. A process killed
    outright (``kill -9``, a power cut) leaves it behind: the error then says
    the pid is no longer running, and removing the lock file is the way out.

    Parameters
    ----------
    path : path-like
        The model file to be written.

    Yields
    ------
    lock : Path
        The lock file.
    """
    import socket

    path = Path(path)
    lock = path.with_name(path.name + ".lock")
    try:
        fd = os.open(lock, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
    except FileExistsError:
        owner, gone = _lock_owner(lock)
        state = (f"{owner} made it and is no longer running (it was killed): remove the lock "
                 "and run again" if gone else
                 f"{owner} is writing {str(path)!r}: wait for it to finish, or use another "
                 "--out; if no such run is going on (one was killed), remove the lock")
        raise CLIError(f"{str(lock)!r} exists: {state} (rm {str(lock)!r})") from None
    try:
        with os.fdopen(fd, "w") as f:
            f.write(f"{os.getpid()} {socket.gethostname()}\n")
        yield lock
    finally:
        with contextlib.suppress(FileNotFoundError):
            lock.unlink()


class _Interrupts:
    """Remember a Ctrl-C even when the training loop swallows it (skorch stops the
    epoch loop on KeyboardInterrupt and returns normally)."""

    def __init__(self):
        self.seen = False
        self._old = None

    def _handler(self, signum, frame):
        self.seen = True
        raise KeyboardInterrupt

    def __enter__(self):
        try:
            self._old = signal.signal(signal.SIGINT, self._handler)
        except ValueError:  # not the main thread: nothing to hook
            self._old = None
        return self

    def __exit__(self, *exc):
        if self._old is not None:
            signal.signal(signal.SIGINT, self._old)
        return False


def _use_device(pipe, device):
    """Run a loaded model on ``device``: the parameter and the fitted net's weights."""
    import torch

    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError):
        raise CLIError(f"--device {device!r} is not a torch device; use cpu, cuda or cuda:N") \
            from None
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise CLIError(f"--device {device!r} but CUDA is not available on this machine; "
                       "use --device cpu")
    clf = pipe.steps[-1][1] if hasattr(pipe, "steps") else pipe
    clf.set_params(device=device)
    net = getattr(clf, "net_", None)
    if net is not None:
        net.device = device
        for name in ("module_", "criterion_"):
            part = getattr(net, name, None)
            if isinstance(part, torch.nn.Module):
                part.to(device)
    return pipe


def _load_model(path, trust=(), allow_pickle=False):
    """A model file through the safe loader; a pickle only with ``allow_pickle``.

    A skops file is checked for untrusted types; a pickle is refused (naming
    ``--allow-pickle`` and how to convert it to skops) unless ``allow_pickle``,
    then loaded with a warning. The format is read from the file's first bytes.
    """
    from ..exceptions import UntrustedTypesError
    from ..persistence import ZIP_MAGIC, load

    path = Path(path)
    if not path.is_file():
        raise CLIError(f"model file {str(path)!r} does not exist; make one with "
                       "'sklearn-hallu train'")
    with open(path, "rb") as f:
        is_skops = f.read(len(ZIP_MAGIC)) == ZIP_MAGIC  # as load decides, on its own read
    if is_skops and path.suffix.lower() in PICKLE_EXTENSIONS:
        print(f"warning: {path} is a skops file, not a pickle as its name says: loaded as "
              f"skops (types checked, no code run). Rename it to "
              f"{path.with_suffix('.skops').name!r}.", file=sys.stderr)
    elif allow_pickle and not is_skops:
        print(PICKLE_WARNING.format(path=path), file=sys.stderr)
    try:
        with warnings.catch_warnings():  # said above, in the command line's words
            warnings.filterwarnings("ignore", "'.*' is a skops file, not a pickle", UserWarning)
            model = load(path, trusted=list(trust or ()), allow_pickle=allow_pickle)
    except UntrustedTypesError:  # also a refused pickle: the message says what to do
        raise
    except Exception as exc:
        raise CLIError(f"{str(path)!r} is not a model file written by 'sklearn-hallu train' "
                       f"({type(exc).__name__}: {exc}); give the .skops file that train "
                       "wrote") from None
    return _check_model(model, path)


def _describe(model):
    steps = getattr(model, "steps", None)
    if not isinstance(steps, list):
        return f"a {type(model).__name__}"
    names = ", ".join(type(step).__name__ for _, step in steps)
    return f"a {type(model).__name__}({names})"


def _check_model(model, path):
    """``model`` if it is a Pipeline the command line can run, else a CLIError saying so.

    That is a Pipeline starting with a LogMelTransformer (the clips are read
    at its sample rate) and ending with a HalluAudioClassifier, as ``train``
    writes; anything else (a scikit-learn Pipeline of other estimators, say)
    is refused by name instead of failing later on a missing parameter.
    """
    from .. import HalluAudioClassifier, LogMelTransformer

    steps = getattr(model, "steps", None)
    if (isinstance(steps, list) and steps and isinstance(steps[0][1], LogMelTransformer)
            and isinstance(steps[-1][1], HalluAudioClassifier)):
        return model
    raise CLIError(
        f"{str(path)!r} is not a model of sklearn-hallu: it holds {_describe(model)}, and "
        "predict/evaluate need a Pipeline that starts with a LogMelTransformer and ends with "
        "a HalluAudioClassifier, as 'sklearn-hallu train' writes. Train one with "
        "'sklearn-hallu train DATA --out model.skops'; to use this file as it is, load it "
        "in Python (sklearn_hallu.persistence.load).")
