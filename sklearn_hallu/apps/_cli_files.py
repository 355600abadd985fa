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
    "warning: {path} is a pickle. Loading it runs code stored in the file, with your "
    "permissions: only load pickles you made or got from someone you trust. Models saved "
    "as .skops (the default of 'sklearn-hallu train') load without that risk."
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


def scan_folder(folder, *, min_per_class=1, hint="add clips or lower --k-shot/--n-query"):
    """Audio files of a folder with one sub-folder per class.

    Every file is either used or reported: files with another extension are
    listed in a warning, and a class folder without any audio file is an error.

    Returns
    -------
    files : list of str
    labels : ndarray of str
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise CLIError(f"folder {str(folder)!r} does not exist (expected one sub-folder per "
                       "class, each holding audio files)")
    files, labels, ignored, empty = [], [], [], []
    for entry in sorted(folder.iterdir()):
        if entry.is_file() and not entry.name.startswith("."):
            ignored.append(entry)  # outside any class folder
    for sub in sorted(p for p in folder.iterdir() if p.is_dir()):
        everything = sorted(f for f in sub.rglob("*") if f.is_file()
                            and not f.name.startswith("."))
        found = [f for f in everything if f.suffix.lower() in AUDIO_EXTENSIONS]
        ignored += [f for f in everything if f.suffix.lower() not in AUDIO_EXTENSIONS]
        if everything and not found:
            kinds = sorted({f.suffix.lower() or "(no extension)" for f in everything})
            empty.append(f"{sub.name} ({len(everything)} file(s): {', '.join(kinds)})")
        files += [str(f) for f in found]
        labels += [sub.name] * len(found)
    if empty:
        raise CLIError(f"class folder(s) {', '.join(empty)} in {str(folder)!r} hold no audio "
                       f"file this tool reads ({', '.join(sorted(AUDIO_EXTENSIONS))}); "
                       "convert the files (e.g. ffmpeg -i clip.m4a clip.wav) or remove "
                       "the folder")
    if not files:
        raise CLIError(f"no audio files found in sub-folders of {str(folder)!r}; expected "
                       f"<class>/<clip>{{{','.join(sorted(AUDIO_EXTENSIONS))}}}")
    _report_ignored(ignored, repr(str(folder)))
    labels = np.asarray(labels)
    names, counts = np.unique(labels, return_counts=True)
    small = [f"{n} ({c})" for n, c in zip(names, counts) if c < min_per_class]
    if small:
        raise CLIError(f"class(es) {', '.join(small)} in {str(folder)!r} have fewer than the "
                       f"{min_per_class} clips needed; {hint}")
    return files, labels


def read_clips(files, *, sr, verbose=True, min_samples=1, duration=None, crop="start"):
    """Load audio files (progress bar), naming any file that cannot be read.

    Files shorter than ``min_samples`` (one analysis frame) are refused by name,
    and files longer than ``duration`` seconds are listed with what ``crop`` keeps.
    """
    from tqdm.auto import tqdm

    from ..preprocessing import load_audio

    out = []
    for f in tqdm(files, desc="reading audio", unit="clip", disable=not verbose,
                  file=sys.stderr):
        try:
            y = load_audio(f, sr)
        except ValueError as exc:
            raise CLIError(str(exc)) from None
        if y.shape[0] < min_samples:
            raise CLIError(f"file {f!r} is {1000 * y.shape[0] / sr:.1f} ms long, shorter than "
                           f"one analysis frame ({min_samples} samples at {sr} Hz); remove it")
        out.append(y)
    if duration is not None:
        n = int(round(duration * sr))
        long = [(f, y.shape[0] / sr) for f, y in zip(files, out) if y.shape[0] - n > sr // 1000]
        if long:
            kept = {"start": "first", "loudest": "loudest"}.get(crop, "middle")
            names = ", ".join(f"{os.path.basename(f)!r} ({d:.1f} s)" for f, d in long[:5])
            more = f" and {len(long) - 5} more" if len(long) > 5 else ""
            print(f"warning: {len(long)} of {len(files)} clips are longer than {duration:g} s "
                  f"and are cut to their {kept} {duration:g} s (--crop {crop}): {names}{more}",
                  file=sys.stderr)
    return out


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
            names = ", ".join(repr(str(files[i])) for i in idx[:5])
            more = f" and {len(idx) - 5} more" if len(idx) > 5 else ""
            print(f"warning: {len(idx)} of {len(files)} files are silent (no energy above "
                  f"about -80 dB): {names}{more}. They are represented as silence, not as "
                  "sound; remove them if they are not meant as silence.", file=sys.stderr)
        elif not isinstance(w.message, AudioCroppedWarning):
            warnings.warn_explicit(w.message, w.category, w.filename, w.lineno,
                                   source=w.source)


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


def save_model(pipe, path):
    """Write a skops file, or a pickle when the extension asks for one (``.joblib``).

    The model goes to a temporary file beside ``path``, renamed over it at the end
    (``os.replace``): an interrupted or failed write never leaves a half-written
    model, and a model already at ``path`` stays as it was.
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
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


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


def _load_model(path, trust=()):
    """A skops file through the safe loader; a pickle (``.joblib``) with a warning."""
    path = Path(path)
    if not path.is_file():
        raise CLIError(f"model file {str(path)!r} does not exist; make one with "
                       "'sklearn-hallu train'")
    if path.suffix.lower() in PICKLE_EXTENSIONS:
        import joblib

        print(PICKLE_WARNING.format(path=path), file=sys.stderr)
        try:
            return _check_model(joblib.load(path), path)
        except CLIError:
            raise
        except Exception as exc:
            raise CLIError(f"{str(path)!r} is not a model file written by 'sklearn-hallu "
                           f"train' ({type(exc).__name__}: {exc})") from None
    from ..exceptions import UntrustedTypesError
    from ..persistence import load

    try:
        return _check_model(load(path, trusted=list(trust or ())), path)
    except UntrustedTypesError:
        raise
    except Exception as exc:
        raise CLIError(f"{str(path)!r} is not a model file written by 'sklearn-hallu train' "
                       f"({type(exc).__name__}: {exc}); give the .skops file that train "
                       "wrote") from None


def _check_model(model, path):
    if not hasattr(model, "predict_proba") or not hasattr(model, "steps"):
        raise CLIError(f"{str(path)!r} holds a {type(model).__name__}, not a model written "
                       "by 'sklearn-hallu train'")
    return model
