"""ESC-50 loader following scikit-learn's ``fetch_*`` conventions."""

from __future__ import annotations

import csv
import hashlib
import os
from pathlib import Path

import numpy as np
from sklearn.utils import Bunch

from ..exceptions import DataNotFoundError

__all__ = ["fetch_esc50", "esc50_class_split", "get_data_home", "ESC50_ENV", "ESC50_CLASS_NAMES"]

#: Environment variable naming the folder that holds ESC-50 (or its parent).
ESC50_ENV = "SKLEARN_HALLU_ESC50"
#: Environment variable naming the data home (parent of every dataset folder).
DATA_HOME_ENV = "SKLEARN_HALLU_DATA"

ARCHIVE_URL = "https://github.com/karolpiczak/ESC-50/archive/master.zip"
# sha256 of the master archive as reported by a public data audit (645,695,005 bytes).
# GitHub rebuilds branch archives, so a mismatch is possible: the error says what to do.
ARCHIVE_SHA256 = "805afc618aff80eff0641d51311647871fead5807da68bb18e43a27db47a79ce"
# md5 of meta/esc50.csv, identical in every known copy of the dataset.
META_MD5 = "54a0d0055a10bb7df84ad340a148722e"

_FOLDER_NAMES = ("esc50", "ESC-50", "ESC-50-master")

#: The 50 ESC-50 class names, indexed by class id (``target``), as in meta/esc50.csv.
ESC50_CLASS_NAMES = (
    "dog", "rooster", "pig", "cow", "frog", "cat", "hen", "insects", "sheep", "crow",
    "rain", "sea_waves", "crackling_fire", "crickets", "chirping_birds", "water_drops",
    "wind", "pouring_water", "toilet_flush", "thunderstorm", "crying_baby", "sneezing",
    "clapping", "breathing", "coughing", "footsteps", "laughing", "brushing_teeth",
    "snoring", "drinking_sipping", "door_wood_knock", "mouse_click", "keyboard_typing",
    "door_wood_creaks", "can_opening", "washing_machine", "vacuum_cleaner", "clock_alarm",
    "clock_tick", "glass_breaking", "helicopter", "chainsaw", "siren", "car_horn", "engine",
    "train", "church_bells", "airplane", "fireworks", "hand_saw",
)


def get_data_home(data_home=None) -> Path:
    """Folder holding sklearn-hallu's datasets.

    ``data_home`` if given, else the ``SKLEARN_HALLU_DATA`` environment variable,
    else ``~/sklearn_hallu_data``.
    """
    if data_home is None:
        data_home = os.environ.get(DATA_HOME_ENV, os.path.join("~", "sklearn_hallu_data"))
    return Path(data_home).expanduser()


def esc50_class_split(random_state: int = 0):
    """The standard few-shot class split of ESC-50 (Chou et al. 2019).

    ``np.random.RandomState(random_state).shuffle(np.arange(50))``: the first 35
    class ids train, the next 5 validate, the last 10 test.

    Parameters
    ----------
    random_state : int, default=0
        Seed of the shuffle (0 is the standard split).

    Returns
    -------
    split : dict
        Keys ``"train"``, ``"validation"``, ``"test"``: lists of ESC-50 ``target`` ids.
    """
    order = np.arange(50)
    np.random.RandomState(random_state).shuffle(order)
    return {
        "train": sorted(int(i) for i in order[:35]),
        "validation": sorted(int(i) for i in order[35:40]),
        "test": sorted(int(i) for i in order[40:]),
    }


def _find_root(candidates):
    for base in candidates:
        if base is None:
            continue
        base = Path(base).expanduser()
        for folder in (base, *(base / name for name in _FOLDER_NAMES)):
            if (folder / "meta" / "esc50.csv").is_file():
                return folder
    return None


def _download(data_home: Path) -> Path:
    try:
        import pooch
    except ImportError as exc:  # pragma: no cover - pooch is a dependency
        raise DataNotFoundError("pooch is needed to download ESC-50: pip install pooch") from exc
    data_home.mkdir(parents=True, exist_ok=True)
    try:
        pooch.retrieve(
            ARCHIVE_URL,
            known_hash=f"sha256:{ARCHIVE_SHA256}",
            fname="ESC-50-master.zip",
            path=data_home,
            processor=pooch.Unzip(extract_dir="."),
            progressbar=True,
        )
    except Exception as exc:
        raise DataNotFoundError(
            f"ESC-50 was not found and could not be downloaded from {ARCHIVE_URL} "
            f"({type(exc).__name__}: {exc}). Download and unzip the archive yourself, "
            f"then pass its folder as data_home=... or set the environment variable "
            f"{ESC50_ENV}=/path/to/ESC-50 (the folder holding meta/esc50.csv and audio/)."
        ) from exc
    root = _find_root([data_home])
    if root is None:
        raise DataNotFoundError(
            f"The ESC-50 archive was unpacked into {data_home} but meta/esc50.csv is not "
            "there. Remove the partial download and try again."
        )
    return root


def _md5(path: Path) -> str:
    return hashlib.md5(path.read_bytes()).hexdigest()


def _locate(data_home, download_if_missing):
    """The ESC-50 folder: found on disk, or downloaded."""
    home = get_data_home(data_home) if data_home is not None else None
    root = _find_root([home, os.environ.get(ESC50_ENV), get_data_home()])
    if root is not None:
        return root
    if not download_if_missing:
        raise DataNotFoundError(
            f"ESC-50 not found (looked in data_home={data_home!r}, ${ESC50_ENV}, and "
            f"{get_data_home()}). Pass data_home=/path/to/esc50 or set {ESC50_ENV}, "
            "or allow download_if_missing=True."
        )
    return _download(home if home is not None else get_data_home())


def _read_metadata(root):
    """``filenames, target, fold, category`` arrays of every clip, from meta/esc50.csv."""
    meta_path = root / "meta" / "esc50.csv"
    if _md5(meta_path) != META_MD5:
        raise ValueError(
            f"{meta_path} differs from the published ESC-50 metadata (md5 {META_MD5}). "
            "Restore the original file; the class ids and folds depend on it."
        )
    with open(meta_path, newline="") as fh:
        rows = list(csv.DictReader(fh))
    audio_dir = root / "audio"
    filenames = []
    for row in rows:
        stem = row["filename"][: -len(".wav")]
        found = [audio_dir / (stem + ext) for ext in (".wav", ".flac", ".ogg")]
        found = [p for p in found if p.is_file()]
        if not found:
            raise DataNotFoundError(
                f"Audio for {row['filename']} is missing from {audio_dir}. The copy of "
                "ESC-50 is incomplete: restore it or remove the folder to download again."
            )
        filenames.append(str(found[0]))
    return (
        np.asarray(filenames, dtype=object),
        np.asarray([int(r["target"]) for r in rows]),
        np.asarray([int(r["fold"]) for r in rows]),
        np.asarray([r["category"] for r in rows], dtype=object),
    )


def fetch_esc50(
    data_home=None,
    *,
    download_if_missing=True,
    return_X_y=False,
    load_audio=False,
    sr=16000,
    subset=None,
):
    """Load ESC-50: 2000 five-second clips of 50 environmental sound classes.

    The folder is looked for in ``data_home``, then in the folder named by the
    environment variable ``SKLEARN_HALLU_ESC50``, then in
    :func:`get_data_home` (``SKLEARN_HALLU_DATA`` or ``~/sklearn_hallu_data``);
    each may be the dataset folder itself (holding ``meta/esc50.csv``) or its
    parent (holding ``esc50/``, ``ESC-50/`` or ``ESC-50-master/``). Both the
    original layout (44.1 kHz WAV) and a copy with FLAC files are read. When no
    folder holds the data and ``download_if_missing`` is true, the public
    archive (about 600 MB) is downloaded to the data home and its checksum
    verified.

    Parameters
    ----------
    data_home : str or path-like, default=None
        Where to look for (and download to) the dataset.
    download_if_missing : bool, default=True
        Download the archive when the data is not found.
    return_X_y : bool, default=False
        Return ``(data, target)`` instead of a Bunch.
    load_audio : bool, default=False
        ``data`` holds waveforms ``(n_clips, 5 * sr)`` (loaded, mixed to mono and
        resampled to ``sr``) instead of file paths. Paths are cheaper and
        :class:`~sklearn_hallu.preprocessing.LogMelTransformer` reads them.
    sr : int, default=16000
        Sample rate for ``load_audio=True``.
    subset : {"train", "validation", "test"} or None, default=None
        Keep only the clips of that part of the standard few-shot class split.

    Returns
    -------
    data : Bunch
        ``data`` (file paths, or waveforms), ``target`` (class ids 0..49),
        ``target_names`` (the 50 class names, indexed by id), ``category`` (the
        class name of each clip), ``fold`` (1..5), ``filenames``,
        ``class_split`` (dict of class-id lists, see :func:`esc50_class_split`),
        ``class_split_names`` (the same with names), ``DESCR``.
    (data, target) : tuple
        With ``return_X_y=True``: the ``data`` and ``target`` of the Bunch.

    Raises
    ------
    DataNotFoundError
        No copy was found and none could be downloaded; the message says what to do.
    """
    if subset not in (None, "train", "validation", "test"):
        raise ValueError(
            f"subset must be one of None, 'train', 'validation', 'test'; got {subset!r}."
        )
    root = _locate(data_home, download_if_missing)
    filenames, target, fold, category = _read_metadata(root)
    names = [""] * 50
    for t, c in zip(target, category):
        names[t] = c
    split = esc50_class_split()
    keep = np.ones(len(target), dtype=bool) if subset is None else np.isin(target, split[subset])
    filenames, target, fold, category = (a[keep] for a in (filenames, target, fold, category))
    if load_audio:
        from ..preprocessing import as_waveform_batch

        data = as_waveform_batch(list(filenames), sr=sr, n_samples=5 * sr, min_samples=1)
    else:
        data = filenames
    if return_X_y:
        return data, target
    return Bunch(
        data=data,
        target=target,
        target_names=np.asarray(names, dtype=object),
        category=category,
        fold=fold,
        filenames=filenames,
        class_split=split,
        class_split_names={k: [names[i] for i in v] for k, v in split.items()},
        root=str(root),
        DESCR=(
            "ESC-50 (K. J. Piczak, ACM MM 2015): 2000 5-second environmental recordings, "
            "50 classes x 40 clips, 5 folds. License CC BY-NC 3.0. Few-shot class split "
            "of Chou et al. 2019: 35 train / 5 validation / 10 test classes."
        ),
    )
