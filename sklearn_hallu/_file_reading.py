"""Reading many audio files for :mod:`sklearn_hallu.streaming`, naming every problem."""

from __future__ import annotations

import errno
import os
from concurrent.futures import ThreadPoolExecutor

from .preprocessing import load_audio
from .utils.validation import check_waveform

__all__ = ["check_audio_files", "read_batch", "link_problem"]


def link_problem(path):
    """Why a path that does not resolve to a file cannot be read, or None."""
    try:
        os.stat(path)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            return (f"Audio file {path!r} is a symlink loop (following it leads back to "
                    "itself). Point the link at a file or remove it.")
        if os.path.islink(path):
            return (f"Audio file {path!r} is a symlink to {os.readlink(path)!r}, which does "
                    "not exist (a git-annex or DVC file whose content is not here?). Fetch "
                    "it (git annex get, dvc pull) or remove the link.")
        return (f"Audio file {path!r} does not exist ({exc.strerror}). Check the path, or "
                "remove it from the input.")
    if os.path.isdir(path):
        return f"{path!r} is a folder, not an audio file. Give the files inside it instead."
    return None


def _read_one(path, sr, min_samples):
    """``(waveform, None)``, or ``(None, reason)`` when the file cannot be used."""
    problem = link_problem(path)
    if problem is not None:
        return None, problem
    try:
        y = load_audio(path, sr)
        return check_waveform(y, what=f"file {path!r}", min_samples=min_samples), None
    except (ValueError, TypeError, OSError) as exc:
        return None, str(exc)


def read_batch(paths, sr, min_samples):
    """The batch's waveforms and errors, read in threads (libsndfile releases the GIL)."""
    if len(paths) < 8:
        return [_read_one(p, sr, min_samples) for p in paths]
    with ThreadPoolExecutor(max_workers=min(8, max(2, os.cpu_count() or 1))) as pool:
        return list(pool.map(lambda p: _read_one(p, sr, min_samples), paths))


def check_audio_files(paths, *, sr=None, min_samples=1):
    """List the files that cannot be used, without decoding them (headers only).

    Fast (one ``soundfile.info`` per file): finds missing files, dangling
    symlinks and symlink loops, folders, files soundfile cannot open, and files
    shorter than ``min_samples``. A file whose samples are damaged further in
    is only found when it is read.

    .. versionadded:: 0.2.0

    Parameters
    ----------
    paths : iterable of str or path-like
        Audio files.
    sr : int or None, default=None
        The rate the files will be resampled to, for the length check (None: each
        file's own rate).
    min_samples : int, default=1
        Files with fewer samples than this at ``sr`` are listed (one STFT frame:
        the model's ``n_fft``).

    Returns
    -------
    problems : list of (str, str)
        ``(path, reason)`` for every file that cannot be used, in input order;
        the reason names the file and the way out.
    """
    import soundfile as sf

    problems = []
    for path in paths:
        path = os.fsdecode(path)
        reason = link_problem(path)
        if reason is None:
            try:
                info = sf.info(path)
            except Exception as exc:
                reason = (f"Audio file {path!r} could not be decoded ({exc}). Convert it "
                          "to wav, flac or ogg, or remove it from the input.")
            else:
                n = info.frames if sr is None else int(info.frames * sr / info.samplerate)
                if n < min_samples:
                    reason = (f"file {path!r} has {n} samples, shorter than one frame "
                              f"(n_fft={min_samples}). Use longer clips or remove it.")
        if reason is not None:
            problems.append((path, reason))
    return problems
