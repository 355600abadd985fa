"""The off-domain transfer sets, rendered small with espeak-ng and fluidsynth.

These need the Debian packages espeak-ng, fluidsynth and fluid-soundfont-gm: without
them the tests FAIL (never skip) and say what to install.
"""

import csv
import shutil
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from research.transfer import data

SMALL = {"n_per_class": 3, "sr": 16000, "seed": 0}


@pytest.fixture(scope="module")
def espeak():
    if shutil.which(data.ESPEAK) is None:
        pytest.fail("espeak-ng is not installed: apt-get install espeak-ng")


@pytest.fixture(scope="module")
def fluidsynth():
    if shutil.which(data.FLUIDSYNTH) is None or not Path(data.DEFAULT_SOUNDFONT).is_file():
        pytest.fail("fluidsynth or its SoundFont is not installed: "
                    "apt-get install fluid-soundfont-gm fluidsynth")


def _manifest(out):
    with (Path(out) / "manifest.csv").open(newline="") as fh:
        return list(csv.DictReader(fh))


@pytest.fixture(scope="module")
def words(espeak, tmp_path_factory):
    """Two same-seed runs and one with another seed, 3 words x 3 clips."""
    root = tmp_path_factory.mktemp("words")
    rows = data.make_spoken_words(root / "a", n_words=3, **SMALL)
    data.make_spoken_words(root / "b", n_words=3, **SMALL)
    data.make_spoken_words(root / "c", n_words=3, **{**SMALL, "seed": 1})
    return root, rows


@pytest.fixture(scope="module")
def instruments(fluidsynth, tmp_path_factory):
    """Two same-seed runs and one with another seed, 3 programs x 3 clips."""
    root = tmp_path_factory.mktemp("instruments")
    rows = data.make_instruments(root / "a", n_classes=3, **SMALL)
    data.make_instruments(root / "b", n_classes=3, **SMALL)
    data.make_instruments(root / "c", n_classes=3, **{**SMALL, "seed": 1})
    return root, rows


def _check_clips(root, rows, classes, min_s, max_s):
    """Files, labels, format, duration and loudness of a small set."""
    assert [label for _, label in rows] == [c for c in classes for _ in range(3)]
    manifest = _manifest(root / "a")
    for (path, label), row in zip(rows, manifest, strict=True):
        assert Path(path) == root / "a" / row["file"] and row["class"] == label
        assert row["file"] == f"{label}/{label}_{row['file'][-5]}.wav"
        info = sf.info(path)
        assert (info.samplerate, info.channels, info.subtype) == (16000, 1, "PCM_16")
        y, _ = sf.read(path)
        assert min_s <= len(y) / 16000 <= max_s, (path, len(y))
        assert np.sqrt(np.mean(y ** 2)) > 1e-3, path
        assert float(row["clip_s"]) == pytest.approx(len(y) / 16000, abs=1e-4)
    for c in classes:  # distinct parameters and distinct audio within a class
        mine = [r for r in manifest if r["class"] == c]
        params = {tuple(v for k, v in r.items() if k not in ("file", "clip_s", "rms",
                                                             "peak", "pcm_sha1")) for r in mine}
        assert len(params) == len({r["pcm_sha1"] for r in mine}) == 3
    assert _manifest(root / "a") == _manifest(root / "b")  # deterministic for a seed
    assert _manifest(root / "a") != _manifest(root / "c")
    assert (root / "a" / "README.md").read_text() == (root / "b" / "README.md").read_text()
    return manifest


def test_spoken_words_small_set(words):
    root, rows = words
    manifest = _check_clips(root, rows, ["yes", "no", "up"], 0.2, 3.0)
    for row in manifest:
        assert row["accent"] in data.ACCENTS and row["variant"] in data.VARIANTS
        assert data.SPEED[0] <= int(row["speed"]) <= data.SPEED[1]
        assert data.PITCH[0] <= int(row["pitch"]) <= data.PITCH[1]
        assert data.AMPLITUDE[0] <= int(row["amplitude"]) <= data.AMPLITUDE[1]
    readme = (root / "a" / "README.md").read_text()
    assert "eSpeak NG" in readme and "GPL-3" in readme and "yes, no, up" in readme


def test_instruments_small_set(instruments):
    root, rows = instruments
    names = [i[1] for i in data.INSTRUMENTS[:3]]
    manifest = _check_clips(root, rows, names, 0.5 + data.TAIL_S - 0.01,
                            2.0 + data.TAIL_S + 0.01)
    ranges = {i[1]: (i[0], i[3], i[4]) for i in data.INSTRUMENTS}
    for row in manifest:
        program, low, high = ranges[row["class"]]
        assert int(row["program"]) == program
        assert all(low <= int(p) <= high for p in row["notes"].split())
        assert 1 <= len(row["notes"].split()) <= 3
        assert data.VELOCITY[0] <= int(row["velocity"]) <= data.VELOCITY[1]
        # cut TAIL_S after the last note-off (or shorter if fluidsynth stopped earlier)
        assert float(row["clip_s"]) <= float(row["duration_s"]) + data.TAIL_S + 1e-3
        y, _ = sf.read(root / "a" / row["file"])  # faded out at the cut: no click
        assert np.abs(y[-16:]).max() <= 0.1 * np.abs(y).max()
    readme = (root / "a" / "README.md").read_text()
    assert "FluidSynth" in readme and "MIT" in readme and "FluidR3_GM.sf2" in readme


def test_smaller_set_is_a_prefix(words, tmp_path):
    root, _ = words
    data.make_spoken_words(tmp_path, n_words=2, n_per_class=2, seed=0)
    small = _manifest(tmp_path)
    big = {r["file"]: r for r in _manifest(root / "a")}
    assert [big[r["file"]] for r in small] == small


def test_refuses_an_existing_set_and_bad_sizes(words, tmp_path):
    root, _ = words
    with pytest.raises(FileExistsError, match="already holds a set"):
        data.make_spoken_words(root / "a", n_words=3, **SMALL)
    with pytest.raises(ValueError, match="n_classes"):
        data.make_spoken_words(tmp_path / "x", n_words=len(data.WORDS) + 1)
    with pytest.raises(ValueError, match="n_per_class"):
        data.make_instruments(tmp_path / "y", n_classes=2, n_per_class=0)


def test_missing_tools_say_what_to_install(monkeypatch, tmp_path):
    monkeypatch.setattr(data, "ESPEAK", "/nonexistent/espeak-ng")
    with pytest.raises(data.MissingToolError, match="apt-get install espeak-ng"):
        data.make_spoken_words(tmp_path / "a", n_words=1, n_per_class=1)
    monkeypatch.setattr(data, "FLUIDSYNTH", "/nonexistent/fluidsynth")
    with pytest.raises(data.MissingToolError,
                       match="apt-get install fluid-soundfont-gm fluidsynth"):
        data.make_instruments(tmp_path / "b", n_classes=1, n_per_class=1)


def test_missing_soundfont_says_what_to_install(fluidsynth, monkeypatch, tmp_path):
    with pytest.raises(data.MissingToolError, match="SoundFont .*nope.sf2.* not found: "
                       "install it with `apt-get install fluid-soundfont-gm fluidsynth`"):
        data.make_instruments(tmp_path / "a", n_classes=1, n_per_class=1,
                              soundfont=tmp_path / "nope.sf2")
    monkeypatch.setattr(data, "DEFAULT_SOUNDFONT", str(tmp_path / "gone.sf2"))
    with pytest.raises(data.MissingToolError, match="gone.sf2"):
        data.make_instruments(tmp_path / "b", n_classes=1, n_per_class=1)
    assert not (tmp_path / "a").exists() and not (tmp_path / "b").exists()


def test_silent_clip_names_program_and_notes(fluidsynth, monkeypatch, tmp_path):
    monkeypatch.setattr(data, "SILENCE_RMS", 10.0)  # every clip counts as silent
    with pytest.raises(RuntimeError, match=r"acoustic_grand_piano_0\.wav \(program 0 "
                       r"acoustic_grand_piano, notes \[\d+.*\]\) is silent \(RMS "):
        data.make_instruments(tmp_path, n_classes=1, n_per_class=1)


def test_midi_bytes_is_a_standard_midi_file():
    midi = data._midi_bytes(40, [(69, 100, 0.0, 0.5), (72, 90, 0.5, 1.2)])
    assert midi[:14] == b"MThd" + bytes([0, 0, 0, 6, 0, 0, 0, 1]) + (1000).to_bytes(2, "big")
    assert midi[14:18] == b"MTrk"
    track = midi[22:]
    assert int.from_bytes(midi[18:22], "big") == len(track)
    assert bytes([0xC0, 40]) in track and track.endswith(b"\x00\xff\x2f\x00")
    # the first note's off (after 500 ticks of 1 ms: VLQ 0x83 0x74), then the next on
    assert bytes([0x83, 0x74, 0x80, 69, 0, 0x00, 0x90, 72, 90]) in track
    assert data._vlq(0) == b"\x00" and data._vlq(127) == b"\x7f" and data._vlq(128) == b"\x81\x00"
    with pytest.raises(ValueError, match="program"):
        data._midi_bytes(128, [(60, 100, 0.0, 1.0)])
    with pytest.raises(ValueError, match="bad note"):
        data._midi_bytes(0, [(60, 100, 1.0, 0.5)])


def test_class_lists():
    assert len(data.WORDS) >= 40 and len(set(data.WORDS)) == len(data.WORDS)
    digits = {"zero", "oh", "one", "two", "three", "four", "five", "six", "seven", "eight",
              "nine", "ten"}
    assert not digits & set(data.WORDS)
    programs = [i[0] for i in data.INSTRUMENTS]
    assert len(programs) >= 40 and len(set(programs)) == len(programs)
    assert all(0 <= p < 112 for p in programs)  # melodic families only, no sound effects
    assert len(data.FAMILIES) == 13
    assert len({i[2] for i in data.INSTRUMENTS[:13]}) == 13  # any prefix spreads out
    assert all(0 <= lo < hi <= 127 for *_, lo, hi in data.INSTRUMENTS)
