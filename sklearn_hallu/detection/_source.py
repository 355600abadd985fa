"""A long recording, read a block at a time: a file (never whole in memory) or an array.

:class:`AudioSource` gives mono float32 samples at the model's rate: a file is
decoded with soundfile in blocks, mixed to mono, and resampled on the fly (soxr's
streaming resampler, the library librosa resamples with) when its rate differs;
:func:`iter_windows` cuts the stream into windows ``hop`` samples apart, a batch
at a time, holding one block and one batch of windows at most.
"""

from __future__ import annotations

import os
import struct

import numpy as np

from .._file_reading import link_problem

__all__ = ["AudioSource", "AudioReadError", "iter_windows", "window_starts"]


class AudioReadError(ValueError):
    """A recording that cannot be read to its end; the message names it and the time reached.

    .. versionadded:: 0.2.0

    Parameters
    ----------
    message : str
        Which file, where it failed, why, and what to do.
    path : str
        The file, kept as ``path``.
    seconds : float
        How far it was read, kept as ``seconds``.
    """

    def __init__(self, message, path, seconds):
        super().__init__(message)
        self.path, self.seconds = path, seconds


def _wav_declared_frames(path, block_align):
    """Frames the header of a RIFF/WAVE file announces, or None (not a plain WAV, or a
    size left unset by a recorder that was still writing)."""
    try:
        with open(path, "rb") as f:
            head = f.read(12)
            if len(head) < 12 or head[:4] != b"RIFF" or head[8:12] != b"WAVE":
                return None
            while True:
                chunk = f.read(8)
                if len(chunk) < 8:
                    return None
                name, size = chunk[:4], struct.unpack("<I", chunk[4:])[0]
                if name == b"data":
                    return None if size in (0, 0xFFFFFFFF) else size // max(1, block_align)
                f.seek(size + (size & 1), os.SEEK_CUR)
    except OSError:
        return None


class AudioSource:
    """Mono float32 samples of a recording at ``sr`` Hz, read in blocks.

    Parameters
    ----------
    recording : str, path-like or array-like of shape (n_samples,)
        An audio file soundfile decodes (any rate, any channel count), or a
        waveform already at ``sr`` Hz.
    sr : int
        The rate the samples are given at.
    """

    def __init__(self, recording, sr):
        self.sr = int(sr)
        self.array = None
        if isinstance(recording, (str, bytes, os.PathLike)):
            self._open_file(os.fsdecode(recording))
        else:
            self._take_array(recording)
        self.duration = self.n_samples / self.sr

    def _open_file(self, path):
        import soundfile as sf

        self.path, self.name = path, f"recording {path!r}"
        problem = link_problem(path)
        if problem is not None:
            raise ValueError(problem)
        try:
            info = sf.info(path)
        except Exception as exc:
            raise ValueError(f"Audio file {path!r} could not be decoded ({exc}). Convert it to "
                             "wav, flac or ogg.") from exc
        self.file_sr, self.file_frames = int(info.samplerate), int(info.frames)
        if info.format == "WAV":
            declared = _wav_declared_frames(path, info.channels * _sample_bytes(info.subtype))
            if declared is not None and declared > self.file_frames:
                raise AudioReadError(
                    f"{self.name} is truncated: its header announces "
                    f"{declared / self.file_sr:.1f} s but the file ends at "
                    f"{self.file_frames / self.file_sr:.1f} s (an interrupted copy or "
                    "recording?). Copy it again; to use the part that is there, rewrite the "
                    "file (e.g. `sox in.wav out.wav`, or soundfile.read then write).",
                    path, self.file_frames / self.file_sr)
        self.n_samples = int(round(self.file_frames * self.sr / self.file_sr))

    def _take_array(self, recording):
        y = np.asarray(recording)
        if y.ndim != 1 or y.dtype.kind not in "biuf":
            raise ValueError(
                f"recording must be an audio file or a 1-D waveform array, got an array of "
                f"shape {y.shape} and dtype {y.dtype}. Mix channels to mono first "
                "(y.mean(axis=1) for (n_samples, n_channels)).")
        y = np.ascontiguousarray(y, dtype=np.float32)
        if not np.all(np.isfinite(y)):
            bad = int(np.flatnonzero(~np.isfinite(y))[0])
            raise ValueError(f"the recording holds NaN or infinite samples (the first at "
                             f"{bad / self.sr:.2f} s); replace them (np.nan_to_num) first.")
        self.path, self.name, self.array = None, "the recording", y
        self.file_sr, self.file_frames, self.n_samples = self.sr, y.shape[0], y.shape[0]

    # ---------------------------------------------------------------- reading
    def _fail(self, seconds, exc):
        raise AudioReadError(
            f"{self.name} could not be decoded past {seconds:.1f} s of its "
            f"{self.file_frames / self.file_sr:.1f} s ({exc}); the file is damaged or "
            "truncated there. Copy it again, or convert it (e.g. ffmpeg -i in out.wav) to "
            "use the part before the damage.", self.path, seconds) from exc

    def _read_file(self, f, n):
        """``n`` frames of the open file as mono float32, naming the file on failure."""
        start = f.tell()
        try:
            x = f.read(n, dtype="float32", always_2d=True)
        except Exception as exc:
            self._fail(start / self.file_sr, exc)
        x = x.mean(axis=1) if x.shape[1] > 1 else x[:, 0]
        if not np.all(np.isfinite(x)):
            at = (start + int(np.flatnonzero(~np.isfinite(x))[0])) / self.file_sr
            raise AudioReadError(f"{self.name} holds NaN or infinite samples at {at:.2f} s; "
                                 "the file is damaged there. Re-export it.", self.path, at)
        return np.ascontiguousarray(x, dtype=np.float32)

    def blocks(self, block):
        """Consecutive blocks of about ``block`` samples at ``sr``, to the end."""
        if self.array is not None:
            for a in range(0, self.n_samples, block):
                yield self.array[a : a + block]
            return
        import soundfile as sf

        step = max(1, int(round(block * self.file_sr / self.sr)))
        resampler = None
        if self.file_sr != self.sr:
            import soxr

            resampler = soxr.ResampleStream(self.file_sr, self.sr, 1, dtype="float32")
        with sf.SoundFile(self.path) as f:
            done = 0
            while True:
                x = self._read_file(f, step)
                done += x.shape[0]
                last = x.shape[0] < step or done >= self.file_frames
                if resampler is not None:
                    x = resampler.resample_chunk(x, last=last)
                if x.shape[0]:
                    yield x
                if last:
                    break
        if done < self.file_frames:
            raise AudioReadError(
                f"{self.name} ended at {done / self.file_sr:.1f} s, before the "
                f"{self.file_frames / self.file_sr:.1f} s its header announces (truncated?). "
                "Copy it again.", self.path, done / self.file_sr)

    def read_windows(self, starts, n):
        """``(len(starts), n)`` samples at ``sr`` from each sample in ``starts`` (zeros past
        the end); a file is opened once and sought to each window."""
        out = np.zeros((len(starts), n), dtype=np.float32)
        if self.array is not None:
            for k, start in enumerate(starts):
                piece = self.array[max(0, int(start)) : max(0, int(start)) + n]
                out[k, : piece.shape[0]] = piece
            return out
        import soundfile as sf

        ratio = self.file_sr / self.sr
        margin = 0 if ratio == 1 else 64  # resampling needs a little context each side
        with sf.SoundFile(self.path) as f:
            for k, start in enumerate(starts):
                start = max(0, int(start))
                a = max(0, int(np.floor(start * ratio)) - margin)
                f.seek(min(a, self.file_frames))
                x = self._read_file(f, int(np.ceil(n * ratio)) + 2 * margin + 1)
                if ratio != 1:
                    import soxr

                    x = soxr.resample(x, self.file_sr, self.sr)[
                        int(round(start - a / ratio)) :]
                piece = x[:n]
                out[k, : piece.shape[0]] = piece
        return out


def _sample_bytes(subtype):
    return {"PCM_U8": 1, "PCM_S8": 1, "PCM_16": 2, "PCM_24": 3, "PCM_32": 4, "FLOAT": 4,
            "DOUBLE": 8, "ULAW": 1, "ALAW": 1}.get(subtype, 0) or 1


def window_starts(n_samples, win, hop):
    """Starts of the windows of a recording: every ``hop``, the last one ending with it."""
    if n_samples <= win:
        return np.zeros(1, dtype=np.int64)
    starts = np.arange(0, n_samples - win + 1, hop, dtype=np.int64)
    if starts[-1] + win < n_samples:
        starts = np.append(starts, n_samples - win)
    return starts


def iter_windows(source, win, hop, batch):
    """Yield ``(starts, windows)`` of at most ``batch`` windows, in time order.

    The windows are those of :func:`window_starts` over the samples
    ``source.blocks`` gives; the buffer holds one block plus one window.
    """
    buf, buf_start, nxt, last = np.zeros(0, dtype=np.float32), 0, 0, -1
    starts, wins = [], []
    for y in source.blocks(max(hop * batch, win)):
        buf = np.concatenate([buf, y]) if buf.size else y
        while nxt + win <= buf_start + buf.shape[0]:
            a = nxt - buf_start
            starts.append(nxt)
            wins.append(buf[a : a + win])
            last, nxt = nxt, nxt + hop
            if len(wins) == batch:
                yield np.asarray(starts), np.stack(wins)
                starts, wins = [], []
        keep_from = max(last, 0)  # the final window may start after the last one
        if keep_from > buf_start:
            buf = buf[keep_from - buf_start :]
            buf_start = keep_from
    total = buf_start + buf.shape[0]
    if last < 0 or last + win < total:  # the last window ends with the recording
        a = max(0, total - win)
        piece = buf[a - buf_start :]
        w = np.zeros(win, dtype=np.float32)
        w[: piece.shape[0]] = piece
        starts.append(a)
        wins.append(w)
    if wins:
        yield np.asarray(starts), np.stack(wins)
    source.n_samples = total  # the exact length (a resampled file's may differ by a sample)
