"""Two off-domain few-shot datasets, rendered here from Debian packages (nothing downloaded).

``spoken_words``: English keywords spoken by espeak-ng (GPL-3; its audio output is not
restricted) with seeded accent, voice variant, speed, pitch and amplitude. ``instruments``:
one note or a 2-3 note figure of a melodic General MIDI program, rendered by fluidsynth with
the FluidR3_GM SoundFont (MIT). Each set is ``out/<class>/<class>_<i>.wav`` (mono, 16-bit
PCM), ``out/manifest.csv`` (file, class, every generation parameter, clip statistics, SHA-1
of the samples) and ``out/README.md``. Class ``k`` draws from ``RandomState([seed, k])``,
so a smaller set (fewer classes or clips) is a prefix of a larger one with the same seed.

    python -m research.transfer.data spoken_words|instruments --out DIR [--n-classes 30] ...
"""

import argparse
import csv
import hashlib
import re
import shutil
import subprocess
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from pathlib import Path

import numpy as np
import soundfile as sf
import soxr

#: Executables and SoundFont; module attributes so that a test can point them elsewhere.
ESPEAK = "espeak-ng"
FLUIDSYNTH = "fluidsynth"
DEFAULT_SOUNDFONT = "/usr/share/sounds/sf2/FluidR3_GM.sf2"
RENDER_SR = 22050  # fluidsynth renders at this rate; espeak-ng writes 22050 Hz too
SILENCE_RMS = 1e-4  # a clip quieter than this (-80 dBFS) is an error
TAIL_S = 0.5  # kept after the last note-off (the release), the rest is cut

#: Short, common, distinct English words (no digits); the first ``n_words`` are the classes.
WORDS = ("yes", "no", "up", "down", "left", "right", "stop", "go", "apple", "window", "house",
         "water", "bird", "happy", "green", "yellow", "orange", "table", "music", "garden",
         "river", "chair", "dog", "cat", "fish", "tree", "book", "phone", "sugar", "pencil",
         "rabbit", "jacket", "bottle", "kitchen", "forward", "follow", "learn", "monkey", "candle",
         "doctor", "summer", "winter", "butter", "pillow", "lemon", "pocket", "tiger", "morning")
ACCENTS = ("en-us", "en-gb", "en-gb-scotland", "en-gb-x-rp", "en-gb-x-gbclan",
           "en-gb-x-gbcwmd", "en-029", "en-us-nyc")
#: espeak-ng voice variants (``voices/!v``); "" is the accent's own voice.
VARIANTS = ("", "m1", "m2", "m3", "m4", "m5", "m6", "m7", "f1", "f2", "f3", "f4", "f5",
            "klatt", "klatt2", "klatt3", "croak")
SPEED = (120, 200)  # words per minute, inclusive
PITCH = (20, 80)
AMPLITUDE = (50, 100)  # espeak-ng saturates some voices above ~110 (default 100)

#: Melodic General MIDI programs, one family a line: "<0-based program> <GM name> <low>-<high>"
#: with low-high the MIDI notes a clip may play (a sensible range for the instrument).
PROGRAMS = """
piano: 0 acoustic_grand_piano 36-96, 4 electric_piano_1 40-88, 6 harpsichord 41-89
chromatic_percussion: 8 celesta 60-96, 9 glockenspiel 79-105, 11 vibraphone 53-89,
    12 marimba 45-96, 13 xylophone 65-100, 14 tubular_bells 60-77
organ: 16 drawbar_organ 36-96, 19 church_organ 36-96, 21 accordion 53-89, 22 harmonica 60-84
guitar: 24 acoustic_guitar_nylon 40-84, 25 acoustic_guitar_steel 40-84,
    26 electric_guitar_jazz 40-86, 30 distortion_guitar 40-86
bass: 32 acoustic_bass 28-55, 33 electric_bass_finger 28-60, 36 slap_bass_1 28-60,
    38 synth_bass_1 28-60
strings: 40 violin 55-96, 41 viola 48-84, 42 cello 36-76, 43 contrabass 28-55,
    45 pizzicato_strings 36-84, 46 orchestral_harp 36-96, 47 timpani 40-55
ensemble: 48 string_ensemble_1 36-96, 52 choir_aahs 48-79, 55 orchestra_hit 48-72
brass: 56 trumpet 55-82, 57 trombone 40-72, 58 tuba 28-58, 60 french_horn 41-77
reed: 65 alto_sax 49-80, 66 tenor_sax 44-75, 68 oboe 58-91, 70 bassoon 34-72, 71 clarinet 50-91
pipe: 72 piccolo 74-102, 73 flute 60-96, 75 pan_flute 60-96, 76 blown_bottle 60-84,
    79 ocarina 60-84
synth_lead: 80 lead_1_square 48-84, 81 lead_2_sawtooth 48-84, 85 lead_6_voice 48-84
synth_pad: 88 pad_1_new_age 48-84, 89 pad_2_warm 48-84, 94 pad_7_halo 48-84
ethnic: 104 sitar 48-77, 105 banjo 48-84, 107 koto 55-84, 108 kalimba 60-84, 109 bag_pipe 55-77,
    111 shanai 60-84
"""
#: ``{family: [(program, name, low, high), ...]}`` parsed from :data:`PROGRAMS`.
FAMILIES = {
    fam: [(int(p), n, *map(int, r.split("-"))) for p, n, r in map(str.split, items.split(","))]
    for fam, items in re.findall(r"^(\w+): (.*(?:\n    .*)*)", PROGRAMS, flags=re.M)}
#: ``(program, name, family, low, high)``, families interleaved so that any prefix is spread.
INSTRUMENTS = tuple(
    (v[i][0], v[i][1], fam, v[i][2], v[i][3])
    for i in range(max(map(len, FAMILIES.values())))
    for fam, v in FAMILIES.items() if i < len(v))
VELOCITY = (60, 120)
DURATION_S = (0.5, 2.0)
STEPS = (-7, -5, -4, -3, -2, 2, 3, 4, 5, 7)  # semitones between the notes of a figure


class MissingToolError(RuntimeError):
    """An executable or the SoundFont that the generators need is not installed."""


def _require(exe, package, soundfont=None):
    """Path of ``exe`` (and of ``soundfont``); :class:`MissingToolError` if either is absent."""
    if (found := shutil.which(exe)) is None:
        raise MissingToolError(f"{exe!r} was not found on PATH: install it with "
                               f"`apt-get install {package}`")
    if soundfont is not None and not Path(soundfont).is_file():
        raise MissingToolError(f"SoundFont {str(soundfont)!r} not found: install it with "
                               f"`apt-get install {package}` (or pass soundfont=...)")
    return found


def _run(cmd, what):
    """Run ``cmd`` and return its stdout; a :class:`RuntimeError` with its output if it fails."""
    res = subprocess.run(cmd, capture_output=True, text=True, timeout=120, check=False)
    if res.returncode != 0:
        raise RuntimeError(f"{what} failed (exit {res.returncode}): {' '.join(cmd)}\n"
                           f"{res.stdout}{res.stderr}")
    return res.stdout


def _version(exe):
    """First line of ``exe --version``."""
    return _run([exe, "--version"], f"{exe} --version").strip().splitlines()[0]


def _check_variants(espeak):
    """Fail if a variant of :data:`VARIANTS` is missing (espeak-ng ignores unknown ones)."""
    m = re.search(r"Data at:\s*(\S+)", _version(espeak))
    folder = Path(m.group(1) if m else "/nonexistent") / "voices" / "!v"
    missing = [v for v in VARIANTS if v and not (folder / v).is_file()]
    if folder.is_dir() and missing:
        raise MissingToolError(f"espeak-ng voice variants {missing} not in {folder}: "
                               "reinstall with `apt-get install espeak-ng`")


def _draw_distinct(draw, n, what):
    """``n`` distinct parameter dicts from ``draw()`` (a repeat is drawn again)."""
    out = {}
    for _ in range(100 * n):
        params = draw()
        out.setdefault(tuple(params.values()), params)
        if len(out) == n:
            return list(out.values())
    raise RuntimeError(f"could not draw {n} distinct clips for {what}")


def _jobs(out_dir, classes, n_classes, seed, n_per_class):
    """Make ``out_dir`` (not over an existing set); the manifest rows before rendering.

    ``classes``: ``(name, columns, draw)``, the first ``n_classes`` used; ``draw(rng)`` gives
    a clip's parameters, with ``rng = RandomState([seed, k])`` for class ``k``."""
    if not (1 <= n_classes <= len(classes) and n_per_class >= 1):
        raise ValueError(f"need 1 <= n_classes <= {len(classes)} and n_per_class >= 1, "
                         f"got {n_classes} and {n_per_class}")
    if (Path(out_dir) / "manifest.csv").exists():
        raise FileExistsError(f"{out_dir} already holds a set (manifest.csv): remove it first")
    Path(out_dir).mkdir(parents=True, exist_ok=True)
    jobs = []
    for k, (name, columns, draw) in enumerate(classes[:n_classes]):
        rng = np.random.RandomState([seed, k])
        params = _draw_distinct(partial(draw, rng), n_per_class, name)
        jobs += [{"file": f"{name}/{name}_{i}.wav", "class": name, **columns, **p}
                 for i, p in enumerate(params)]
    return jobs


def _store(src, path, sr, what, max_s=None):
    """``src`` (a rendered wav) as mono at ``sr`` (soxr), cut at ``max_s``, written as 16-bit
    PCM to ``path``; its statistics and the SHA-1 of its samples. Raises if it is silent."""
    y, native = sf.read(src, dtype="float64", always_2d=True)
    y = soxr.resample(y.mean(axis=1), native, sr) if native != sr else y.mean(axis=1)
    if max_s is not None:  # cut there, the last 20 ms faded out (no click)
        y = y[: int(round(max_s * sr))]
        y = y * np.clip((len(y) - np.arange(len(y))) / (0.02 * sr), 0.0, 1.0)
    pcm = np.round(np.clip(y, -1.0, 1.0) * 32767).astype("<i2")
    x = pcm / 32768.0
    rms = float(np.sqrt(np.mean(x ** 2))) if len(x) else 0.0
    if rms < SILENCE_RMS:
        raise RuntimeError(f"{what} is silent (RMS {rms:.2e} < {SILENCE_RMS:g})")
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(path, pcm, sr, subtype="PCM_16")
    return {"sr": sr, "clip_s": f"{len(x) / sr:.4f}", "rms": f"{rms:.6f}",
            "peak": f"{float(np.abs(x).max()):.6f}",
            "pcm_sha1": hashlib.sha1(pcm.tobytes()).hexdigest()}


def _finish(kind, out_dir, rows, seed, how):
    """Write ``manifest.csv`` and ``README.md``; the ``(path, label)`` rows."""
    with (out_dir / "manifest.csv").open("w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]), lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
    classes = list(dict.fromkeys(r["class"] for r in rows))
    n_per, sr = len(rows) // len(classes), rows[0]["sr"]
    (out_dir / "README.md").write_text("\n".join([
        f"# {kind}: an off-domain few-shot set generated locally", "",
        f"{len(classes)} classes x {n_per} clips, mono 16-bit PCM WAV at {sr} Hz, seed "
        f"{seed}. Made by `research/transfer/data.py` from installed Debian packages; "
        "nothing was downloaded. Regenerate with", "",
        f"    python -m research.transfer.data {kind} --out DIR --n-classes {len(classes)} "
        f"--n-per-class {n_per} --seed {seed}" + (f" --sr {sr}" if sr != 16000 else ""),
        "", "## How", "", *(f"- {line}" for line in how), "", "## Classes", "",
        ", ".join(classes), "", "## manifest.csv", "", f"Columns: {', '.join(rows[0])}. "
        "`clip_s`, `rms`, `peak` describe the written clip; `pcm_sha1` is the SHA-1 of its "
        "int16 samples (the same across runs with one seed and tool versions).", ""]))
    return [(str(out_dir / r["file"]), r["class"]) for r in rows]


def _word_params(rng):
    """One clip's espeak-ng parameters."""
    return {"accent": str(rng.choice(ACCENTS)), "variant": str(rng.choice(VARIANTS)),
            "speed": int(rng.randint(SPEED[0], SPEED[1] + 1)),
            "pitch": int(rng.randint(PITCH[0], PITCH[1] + 1)),
            "amplitude": int(rng.randint(AMPLITUDE[0], AMPLITUDE[1] + 1))}


def _speak(espeak, sr, out_dir, tmp, job):
    """Render one word clip; its manifest row."""
    voice = job["accent"] + (f"+{job['variant']}" if job["variant"] else "")
    wav = tmp / job["file"].replace("/", "__")
    _run([espeak, "-v", voice, "-s", str(job["speed"]), "-p", str(job["pitch"]),
          "-a", str(job["amplitude"]), "-w", str(wav), job["word"]], "espeak-ng")
    return {**job, "voice": voice,
            **_store(wav, out_dir / job["file"], sr, f"{job['file']} ({voice})")}


def make_spoken_words(out_dir, *, n_words=30, n_per_class=20, sr=16000, seed=0, workers=2):
    """Render a keyword task: ``n_words`` words of :data:`WORDS` spoken by espeak-ng.

    Parameters
    ----------
    out_dir : str or Path
        Folder of the set: ``<word>/<word>_<i>.wav``, ``manifest.csv``, ``README.md``.
    n_words : int, default=30
        Number of classes, the first ``n_words`` of :data:`WORDS`.
    n_per_class : int, default=20
        Clips per word, each a distinct (accent, variant, speed, pitch, amplitude).
    sr : int, default=16000
        Sample rate of the clips (espeak-ng's 22050 Hz resampled with soxr; not padded).
    seed : int, default=0
        Class ``k``'s parameters come from ``numpy.random.RandomState([seed, k])``.
    workers : int, default=2
        Threads running espeak-ng.

    Returns
    -------
    list of (str, str)
        ``(wav path, word)`` per clip, in the manifest's order.
    """
    espeak, out_dir = _require(ESPEAK, "espeak-ng"), Path(out_dir)
    _check_variants(espeak)
    classes = [(w, {"word": w}, _word_params) for w in WORDS]
    jobs = _jobs(out_dir, classes, n_words, seed, n_per_class)
    with tempfile.TemporaryDirectory() as tmp, ThreadPoolExecutor(workers) as pool:
        rows = list(pool.map(partial(_speak, espeak, sr, out_dir, Path(tmp)), jobs))
    return _finish("spoken_words", out_dir, rows, seed, [
        f"Each clip: the word spoken by `{_version(espeak)}` (`espeak-ng -v <accent>+<variant> "
        "-s <speed> -p <pitch> -a <amplitude> -w clip.wav <word>`), written at 22050 Hz, "
        f"resampled to {sr} Hz with soxr, kept as is (not padded or trimmed).",
        f"Accents: {', '.join(ACCENTS)}. Variants: {', '.join(v or '(none)' for v in VARIANTS)}.",
        f"Speed {SPEED[0]}-{SPEED[1]} words/min, pitch {PITCH[0]}-{PITCH[1]}, amplitude "
        f"{AMPLITUDE[0]}-{AMPLITUDE[1]} (uniform integers).",
        "License: espeak-ng is GPL-3.0-or-later; the audio it produces is not restricted "
        "by that license."])


def _vlq(n):
    """MIDI variable-length quantity (7 bits a byte, high bit set on all but the last)."""
    out = [n & 0x7F]
    while n := n >> 7:
        out.append((n & 0x7F) | 0x80)
    return bytes(reversed(out))


def _midi_bytes(program, notes):
    """A format-0 Standard MIDI File: ``program`` on channel 0 playing ``notes``.

    Parameters
    ----------
    program : int
        0-based General MIDI program (0-127).
    notes : iterable of (int, int, float, float)
        ``(pitch, velocity, onset_s, offset_s)`` per note.

    Returns
    -------
    bytes
        ``MThd`` + one ``MTrk`` (tempo, program change, notes, end of track); 1 tick = 1 ms.
    """
    if not 0 <= program <= 127:
        raise ValueError(f"program must be in [0, 127], got {program}")
    events = []  # (tick, 0 for off / 1 for on: offs first at a tick, message)
    for note in notes:
        pitch, velocity, onset, offset = note
        if not (0 <= pitch <= 127 and 1 <= velocity <= 127 and 0 <= onset < offset):
            raise ValueError(f"bad note (pitch, velocity, onset_s, offset_s): {note}")
        events.append((round(onset * 1000), 1, bytes([0x90, pitch, velocity])))
        events.append((round(offset * 1000), 0, bytes([0x80, pitch, 0])))
    # tempo 1,000,000 us a quarter (1000 ticks a quarter), then the program change on channel 0
    track = bytearray(b"\x00\xff\x51\x03\x0f\x42\x40" + bytes([0, 0xC0, program]))
    now = 0
    for tick, _, msg in sorted(events):
        track += _vlq(tick - now) + msg
        now = tick
    track += b"\x00\xff\x2f\x00"
    header = b"MThd" + (6).to_bytes(4, "big") + bytes([0, 0, 0, 1]) + (1000).to_bytes(2, "big")
    return header + b"MTrk" + len(track).to_bytes(4, "big") + bytes(track)


def _note_params(low, high, rng):
    """One clip's figure: 1-3 notes within ``[low, high]``, a velocity, a total duration."""
    n_notes = int(rng.choice([1, 2, 3], p=[0.5, 0.3, 0.2]))
    pitches = [int(rng.randint(low, high + 1))]
    for _ in range(n_notes - 1):
        step = int(rng.choice(STEPS))
        nxt = pitches[-1] + step if low <= pitches[-1] + step <= high else pitches[-1] - step
        pitches.append(int(np.clip(nxt, low, high)))
    return {"notes": " ".join(map(str, pitches)),
            "velocity": int(rng.randint(VELOCITY[0], VELOCITY[1] + 1)),
            "duration_s": round(float(rng.uniform(*DURATION_S)), 2)}


def _play(synth, sf2, sr, out_dir, tmp, job):
    """Render one instrument clip; its manifest row."""
    pitches = [int(p) for p in job["notes"].split()]
    step = job["duration_s"] / len(pitches)
    notes = [(p, job["velocity"], i * step, (i + 1) * step) for i, p in enumerate(pitches)]
    base = tmp / job["file"].replace("/", "__")
    mid, wav = base.with_suffix(".mid"), base.with_suffix(".render.wav")
    mid.write_bytes(_midi_bytes(job["program"], notes))
    _run([synth, "-ni", "-q", "-g", "0.8", "-r", str(RENDER_SR), "-F", str(wav), str(sf2),
          str(mid)], "fluidsynth")
    what = f"{job['file']} (program {job['program']} {job['class']}, notes {pitches})"
    return {**job, **_store(wav, out_dir / job["file"], sr, what, job["duration_s"] + TAIL_S)}


def make_instruments(out_dir, *, n_classes=30, n_per_class=20, sr=16000, seed=0,
                     soundfont=None, workers=2):
    """Render an instrument task: General MIDI programs of :data:`INSTRUMENTS` by fluidsynth.

    Parameters
    ----------
    out_dir : str or Path
        Folder of the set: ``<name>/<name>_<i>.wav``, ``manifest.csv``, ``README.md``.
    n_classes : int, default=30
        Number of classes, the first ``n_classes`` of :data:`INSTRUMENTS` (families
        interleaved, so any prefix spreads over the families).
    n_per_class : int, default=20
        Clips per program, each a distinct (notes, velocity, duration): 1-3 notes within
        the program's range, one after the other over ``duration_s``.
    sr : int, default=16000
        Sample rate of the clips (rendered at :data:`RENDER_SR`, resampled with soxr).
    seed : int, default=0
        Class ``k``'s parameters come from ``numpy.random.RandomState([seed, k])``.
    soundfont : str or Path, optional
        The SoundFont; :data:`DEFAULT_SOUNDFONT` (FluidR3_GM, MIT) when None.
    workers : int, default=2
        Threads running fluidsynth.

    Returns
    -------
    list of (str, str)
        ``(wav path, program name)`` per clip, in the manifest's order.
    """
    sf2, out_dir = Path(DEFAULT_SOUNDFONT if soundfont is None else soundfont), Path(out_dir)
    synth = _require(FLUIDSYNTH, "fluid-soundfont-gm fluidsynth", sf2)
    classes = [(name, {"program": program, "family": family}, partial(_note_params, lo, hi))
               for program, name, family, lo, hi in INSTRUMENTS]
    jobs = _jobs(out_dir, classes, n_classes, seed, n_per_class)
    with tempfile.TemporaryDirectory() as tmp, ThreadPoolExecutor(workers) as pool:
        rows = list(pool.map(partial(_play, synth, sf2, sr, out_dir, Path(tmp)), jobs))
    return _finish("instruments", out_dir, rows, seed, [
        "Each clip: a Standard MIDI File written by `_midi_bytes` (program change on channel "
        "0, 1-3 notes one after the other, no drum channel) rendered by "
        f"`{_version(synth)}` (`fluidsynth -ni -q -g 0.8 -r {RENDER_SR} -F out.wav "
        f"{sf2.name} clip.mid`; reverb and chorus at their defaults), mixed to mono, "
        f"resampled to {sr} Hz with soxr, cut {TAIL_S} s after the last note-off (20 ms fade).",
        f"Velocity {VELOCITY[0]}-{VELOCITY[1]}, total duration {DURATION_S[0]}-"
        f"{DURATION_S[1]} s, pitches within each program's range (manifest `notes`).",
        f"SoundFont: `{sf2}` ({sf2.stat().st_size} bytes), Fluid R3 General MIDI by Frank "
        "Wen, MIT license (Debian package fluid-soundfont-gm). fluidsynth is LGPL-2.1."])


def main(argv=None):
    """Command line: ``spoken_words|instruments --out DIR [--n-classes N] ...``."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("kind", choices=["spoken_words", "instruments"])
    parser.add_argument("--out", required=True, type=Path)
    for flag, default in (("n-classes", 30), ("n-per-class", 20), ("seed", 0), ("sr", 16000),
                          ("workers", 2)):
        parser.add_argument(f"--{flag}", type=int, default=default, help=f"default {default}")
    parser.add_argument("--soundfont", default=None, help="instruments only")
    args = parser.parse_args(argv)
    common = dict(n_per_class=args.n_per_class, sr=args.sr, seed=args.seed, workers=args.workers)
    start = time.perf_counter()
    if args.kind == "spoken_words":
        rows = make_spoken_words(args.out, n_words=args.n_classes, **common)
    else:
        rows = make_instruments(args.out, n_classes=args.n_classes,
                                soundfont=args.soundfont, **common)
    print(f"{args.kind}: {len(rows)} clips, {len({c for _, c in rows})} classes in "
          f"{args.out} ({time.perf_counter() - start:.1f} s)")


if __name__ == "__main__":
    main()
