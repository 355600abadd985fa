"""FSDKaggle2018 ("Kaggle18") loader and its few-shot class split.

The paper's fixed-length curation is in ``_kaggle18_curation.py``.

The layout read here is the one of the Zenodo record 2552860 once its archives are
unzipped (each archive holds one top-level folder of the same name)::

    <folder>/FSDKaggle2018.meta/train_post_competition.csv
            (fname,label,manually_verified,freesound_id,license; 9,473 rows)
    <folder>/FSDKaggle2018.meta/test_post_competition_scoring_clips.csv
            (fname,label,usage,freesound_id,license; 1,600 rows)
    <folder>/FSDKaggle2018.audio_train/<fname>   (44.1 kHz 16-bit mono wav)
    <folder>/FSDKaggle2018.audio_test/<fname>
"""

from __future__ import annotations

import csv
import os
import warnings
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
from sklearn.utils import Bunch

from ..exceptions import DataNotFoundError
from ._esc50 import get_data_home

__all__ = [
    "fetch_kaggle18",
    "kaggle18_class_split",
    "KAGGLE18_ENV",
    "KAGGLE18_CLASS_NAMES",
    "KAGGLE18_CLASS_SPLIT",
]

#: Environment variable naming the folder that holds FSDKaggle2018 (or its parent).
KAGGLE18_ENV = "SKLEARN_HALLU_KAGGLE18"
ZENODO_RECORD_URL = "https://zenodo.org/records/2552860"
# md5 of the Zenodo archives as checked by a public dataset-build script found in a code
# index (it also expects 9,473 train rows, 3,710 of them verified, 1,600 test rows and 41
# labels). Not compared with the Zenodo page itself, which is unreachable from our
# machines: a mismatch stops the download with the manual instructions, never silently.
ARCHIVE_MD5 = {
    "FSDKaggle2018.meta.zip": "f16828ac8be0e5285b9175a12f90d784",
    "FSDKaggle2018.audio_train.zip": "a8b47ff4b52022c178f88fa5c6f080d0",
    "FSDKaggle2018.audio_test.zip": "f85c8665c3fc39311ea1b748e194a81d",
}
META_DIR = "FSDKaggle2018.meta"
META_FILES = {"train": "train_post_competition.csv",
              "test": "test_post_competition_scoring_clips.csv"}
META_COLUMNS = {"train": ("fname", "label", "manually_verified", "freesound_id", "license"),
                "test": ("fname", "label", "usage", "freesound_id", "license")}
AUDIO_DIRS = {"train": "FSDKaggle2018.audio_train", "test": "FSDKaggle2018.audio_test"}
_ARCHIVES = {"meta": "FSDKaggle2018.meta.zip", "train": "FSDKaggle2018.audio_train.zip",
             "test": "FSDKaggle2018.audio_test.zip"}
_PARTS = {"train": ("train",), "test": ("test",), "all": ("train", "test")}
_FOLDER_NAMES = ("FSDKaggle2018", "fsdkaggle2018", "kaggle18")

#: The 41 labels of FSDKaggle2018 as written in its CSVs, sorted; the class id is the index.
KAGGLE18_CLASS_NAMES = (
    "Acoustic_guitar", "Applause", "Bark", "Bass_drum", "Burping_or_eructation", "Bus",
    "Cello", "Chime", "Clarinet", "Computer_keyboard", "Cough", "Cowbell", "Double_bass",
    "Drawer_open_or_close", "Electric_piano", "Fart", "Finger_snapping", "Fireworks",
    "Flute", "Glockenspiel", "Gong", "Gunshot_or_gunfire", "Harmonica", "Hi-hat",
    "Keys_jangling", "Knock", "Laughter", "Meow", "Microwave_oven", "Oboe", "Saxophone",
    "Scissors", "Shatter", "Snare_drum", "Squeak", "Tambourine", "Tearing", "Telephone",
    "Trumpet", "Violin_or_fiddle", "Writing",
)

#: Our few-shot class split (the paper gives none): ``kaggle18_class_split(0)`` by name.
KAGGLE18_CLASS_SPLIT = {
    "train": (
        "Bark", "Burping_or_eructation", "Bus", "Clarinet", "Cough", "Cowbell",
        "Drawer_open_or_close", "Electric_piano", "Fart", "Finger_snapping", "Fireworks",
        "Flute", "Gong", "Harmonica", "Knock", "Meow", "Microwave_oven", "Oboe", "Saxophone",
        "Scissors", "Squeak", "Tambourine", "Tearing", "Telephone", "Trumpet", "Writing",
    ),
    "validation": ("Applause", "Chime", "Double_bass", "Laughter", "Snare_drum"),
    "test": (
        "Acoustic_guitar", "Bass_drum", "Cello", "Computer_keyboard", "Glockenspiel",
        "Gunshot_or_gunfire", "Hi-hat", "Keys_jangling", "Shatter", "Violin_or_fiddle",
    ),
}


def kaggle18_class_split(random_state: int = 0):
    """Few-shot class split of FSDKaggle2018's 41 classes: 26 train, 5 validation, 10 test.

    The paper gives no split. As for ESC-50 (:func:`esc50_class_split`),
    ``np.random.RandomState(random_state).shuffle(np.arange(41))`` orders the
    class ids; the first 26 train, the next 5 validate, the last 10 test. Five
    validation and ten test classes are ESC-50's numbers: 10-way episodes (the
    paper reports 10-way results on Kaggle18) need ten test classes. Seed 0
    gives :data:`KAGGLE18_CLASS_SPLIT`.

    Parameters
    ----------
    random_state : int, default=0
        Seed of the shuffle (0 is the split used in this library).

    Returns
    -------
    split : dict
        Keys ``"train"``, ``"validation"``, ``"test"``: sorted lists of class ids
        (indices into :data:`KAGGLE18_CLASS_NAMES`).
    """
    order = np.arange(len(KAGGLE18_CLASS_NAMES))
    np.random.RandomState(random_state).shuffle(order)
    return {
        "train": sorted(int(i) for i in order[:26]),
        "validation": sorted(int(i) for i in order[26:31]),
        "test": sorted(int(i) for i in order[31:]),
    }


def _find_root(candidates):
    for base in candidates:
        if base is None:
            continue
        base = Path(base).expanduser()
        for folder in (base, *(base / name for name in _FOLDER_NAMES)):
            if (folder / META_DIR).is_dir():
                return folder
    return None


def _missing_archives(root, parts):
    """Names of the archives whose content is not under ``root`` for ``parts``."""
    if root is None:
        return [_ARCHIVES["meta"], *(_ARCHIVES[p] for p in parts)]
    out = []
    if any(not (root / META_DIR / META_FILES[p]).is_file() for p in parts):
        out.append(_ARCHIVES["meta"])
    return out + [_ARCHIVES[p] for p in parts if not (root / AUDIO_DIRS[p]).is_dir()]


def _instructions(archives):
    urls = ", ".join(f"{ZENODO_RECORD_URL}/files/{a}" for a in archives)
    return (
        f"Download {', '.join(archives)} from the Zenodo record {ZENODO_RECORD_URL} ({urls}) "
        "and unzip them into one folder, which then holds "
        f"{META_DIR}/{META_FILES['train']}, {META_DIR}/{META_FILES['test']}, "
        f"{AUDIO_DIRS['train']}/*.wav and {AUDIO_DIRS['test']}/*.wav; pass that folder as "
        f"data_home=... or set the environment variable {KAGGLE18_ENV}=/path/to/it."
    )


def _download(target: Path, archives):
    import pooch

    target.mkdir(parents=True, exist_ok=True)
    for name in archives:
        url = f"{ZENODO_RECORD_URL}/files/{name}?download=1"
        try:
            pooch.retrieve(url, known_hash=f"md5:{ARCHIVE_MD5[name]}", fname=name, path=target,
                           processor=pooch.Unzip(extract_dir="."), progressbar=True)
        except Exception as exc:
            raise DataNotFoundError(
                f"FSDKaggle2018 was not found and {name} could not be downloaded from {url} "
                f"({type(exc).__name__}: {exc}). " + _instructions(archives)
            ) from exc


def _locate(data_home, parts, download_if_missing):
    """The FSDKaggle2018 folder holding what ``parts`` needs: found on disk, or downloaded."""
    home = get_data_home(data_home) if data_home is not None else None
    root = _find_root([home, os.environ.get(KAGGLE18_ENV), get_data_home()])
    missing = _missing_archives(root, parts)
    if not missing:
        return root
    if not download_if_missing:
        where = f"in {root}" if root is not None else (
            f"looked in data_home={data_home!r}, ${KAGGLE18_ENV} and {get_data_home()}")
        raise DataNotFoundError(
            f"FSDKaggle2018 is missing the content of {', '.join(missing)} ({where}). "
            + _instructions(missing) + " Or allow download_if_missing=True."
        )
    target = root if root is not None else (home or get_data_home()) / _FOLDER_NAMES[0]
    _download(target, missing)
    still = _missing_archives(_find_root([target]), parts)
    if still:
        raise DataNotFoundError(
            f"The archives were unpacked into {target} but the content of {', '.join(still)} "
            "is not there. Remove the partial download and try again. " + _instructions(still)
        )
    return target


def _read_rows(root: Path, part: str):
    """The rows of one metadata CSV, with its columns and labels checked."""
    path = root / META_DIR / META_FILES[part]
    with open(path, newline="", encoding="utf-8") as fh:
        reader = csv.DictReader(fh)
        lacking = [c for c in META_COLUMNS[part] if c not in (reader.fieldnames or ())]
        if lacking:
            raise ValueError(
                f"{path} lacks the column(s) {lacking} (its header: {reader.fieldnames}). "
                f"FSDKaggle2018's {META_FILES[part]} has the columns "
                f"{','.join(META_COLUMNS[part])}: restore it from {_ARCHIVES['meta']}."
            )
        rows = list(reader)
    unknown = sorted({r["label"] for r in rows} - set(KAGGLE18_CLASS_NAMES))
    if unknown:
        raise ValueError(
            f"{path} has labels that are not FSDKaggle2018's 41 classes: {unknown[:5]}. "
            f"Restore the original file from {_ARCHIVES['meta']}."
        )
    return rows


def _metadata(root: Path, parts):
    """Columns of every clip of ``parts``, as a dict of arrays."""
    cols = {k: [] for k in ("filenames", "label", "manually_verified", "subset", "usage",
                            "freesound_id", "license")}
    for part in parts:
        for r in _read_rows(root, part):
            cols["filenames"].append(str(root / AUDIO_DIRS[part] / r["fname"]))
            cols["label"].append(r["label"])
            # The test CSV has no such column: the 1,600 scored test clips were all
            # verified by a person (the dataset's description of its test set).
            cols["manually_verified"].append(part == "test" or r["manually_verified"] == "1")
            cols["subset"].append(part)
            cols["usage"].append(r.get("usage", ""))
            cols["freesound_id"].append(int(r["freesound_id"]))
            cols["license"].append(r["license"])
    out = {k: np.asarray(v, dtype=object) for k, v in cols.items()}
    out["manually_verified"] = np.asarray(cols["manually_verified"], dtype=bool)
    out["freesound_id"] = np.asarray(cols["freesound_id"], dtype=np.int64)
    return out


def _check_files(filenames, on_missing):
    """Mask of the clips whose file exists; raise or warn about the others."""
    exists = np.fromiter((os.path.isfile(f) for f in filenames), dtype=bool,
                         count=len(filenames))
    if exists.all():
        return exists
    lost = filenames[~exists]
    first = ", ".join(os.path.basename(f) for f in lost[:5])
    more = f" and {lost.size - 5} more" if lost.size > 5 else ""
    msg = (f"{lost.size} of {len(filenames)} clips listed in the FSDKaggle2018 metadata have "
           f"no audio file: {first}{more} (looked for {lost[0]}). The copy is incomplete: "
           "unzip the audio archive(s) again")
    if on_missing == "raise":
        raise DataNotFoundError(msg + ", or pass on_missing='warn' to drop these clips.")
    warnings.warn(msg + f"; these {lost.size} clips are dropped.", UserWarning, stacklevel=3)
    return exists


def _load_many(paths, sr):
    from ..preprocessing import load_audio

    with ThreadPoolExecutor(max_workers=max(2, os.cpu_count() or 1)) as pool:
        return list(pool.map(lambda p: load_audio(p, sr), paths))


def _check_choice(name, value, allowed):
    if value not in allowed:
        raise ValueError(f"{name} must be one of {allowed}; got {value!r}.")


def fetch_kaggle18(
    data_home=None,
    *,
    subset="train",
    manually_verified=None,
    download_if_missing=True,
    on_missing="raise",
    return_X_y=False,
    load_audio=False,
    sr=16000,
):
    """Load FSDKaggle2018: 11,073 variable-length clips (0.3 to 30 s) of 41 classes.

    The folder is looked for in ``data_home``, then in the folder named by the
    environment variable ``SKLEARN_HALLU_KAGGLE18``, then in
    :func:`get_data_home`; each may be the dataset folder itself (holding
    ``FSDKaggle2018.meta/``) or its parent (holding ``FSDKaggle2018/``). The
    layout is the Zenodo record's (https://zenodo.org/records/2552860) with its
    archives unzipped: ``FSDKaggle2018.meta/train_post_competition.csv``,
    ``FSDKaggle2018.meta/test_post_competition_scoring_clips.csv``,
    ``FSDKaggle2018.audio_train/`` and ``FSDKaggle2018.audio_test/``. When a part
    is missing and ``download_if_missing`` is true, its archive is downloaded
    from Zenodo (the training audio is several GB) and its md5 checked.

    Parameters
    ----------
    data_home : str or path-like, default=None
        Where to look for (and download to) the dataset.
    subset : {"train", "test", "all"}, default="train"
        The dataset's own partition: 9,473 training clips, the 1,600 scored
        test clips, or both (the paper's 11,073). Unlike ``fetch_esc50``'s
        ``subset``, this is not a part of the few-shot class split (see
        ``class_split`` in the result).
    manually_verified : bool or None, default=None
        ``True`` keeps the clips whose label was verified by a person (3,710
        training clips, and every test clip), ``False`` only the unverified
        training clips, ``None`` all.
    download_if_missing : bool, default=True
        Download the missing archives from Zenodo.
    on_missing : {"raise", "warn"}, default="raise"
        What to do when a clip listed in a CSV has no audio file: raise a
        :class:`~sklearn_hallu.exceptions.DataNotFoundError`, or warn (naming
        the count and the first files) and drop those clips.
    return_X_y : bool, default=False
        Return ``(data, target)`` instead of a Bunch.
    load_audio : bool, default=False
        ``data`` holds the waveforms (an object array of 1-D float32 arrays of
        varying length, mono, resampled to ``sr``) instead of file paths.
    sr : int, default=16000
        Sample rate for ``load_audio=True``.

    Returns
    -------
    data : Bunch
        ``data`` (file paths, or waveforms), ``target`` (class ids 0..40),
        ``target_names`` (the 41 class names), ``label`` (class name of each
        clip), ``manually_verified`` (bool), ``subset`` ("train" or "test"),
        ``usage`` ("Public"/"Private" for test clips, "" for training clips),
        ``freesound_id``, ``license``, ``filenames``, ``class_split`` (see
        :func:`kaggle18_class_split`), ``class_split_names``, ``root``, ``sr``
        (``None`` unless ``load_audio``), ``DESCR``.
    (data, target) : tuple
        With ``return_X_y=True``.

    Raises
    ------
    DataNotFoundError
        A part is neither on disk nor downloadable, or (``on_missing="raise"``)
        a listed clip has no file; the message says what to fetch and where.
    """
    _check_choice("subset", subset, ("train", "test", "all"))
    _check_choice("manually_verified", manually_verified, (None, True, False))
    _check_choice("on_missing", on_missing, ("raise", "warn"))
    root = _locate(data_home, _PARTS[subset], download_if_missing)
    meta = _metadata(root, _PARTS[subset])
    keep = np.ones(len(meta["label"]), dtype=bool)
    if manually_verified is not None:
        keep = meta["manually_verified"] == manually_verified
    meta = {k: v[keep] for k, v in meta.items()}
    exists = _check_files(meta["filenames"], on_missing)
    meta = {k: v[exists] for k, v in meta.items()}
    target = np.asarray([KAGGLE18_CLASS_NAMES.index(c) for c in meta["label"]], dtype=np.int64)
    if load_audio:
        data = np.empty(len(target), dtype=object)
        data[:] = _load_many(meta["filenames"], sr)
    else:
        data = meta["filenames"]
    if return_X_y:
        return data, target
    split = kaggle18_class_split()
    return Bunch(
        data=data, target=target, target_names=np.asarray(KAGGLE18_CLASS_NAMES, dtype=object),
        **meta, class_split=split,
        class_split_names={k: [KAGGLE18_CLASS_NAMES[i] for i in v] for k, v in split.items()},
        root=str(root), sr=sr if load_audio else None,
        DESCR=("FSDKaggle2018 (Fonseca et al., DCASE 2018 Task 2; Zenodo 2552860): 11,073 "
               "Freesound clips of 0.3-30 s, 41 AudioSet classes, 9,473 train (3,710 verified) "
               "and 1,600 test clips. Licenses per clip (CC0, CC BY, CC BY-NC)."),
    )
