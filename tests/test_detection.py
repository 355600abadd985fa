"""Few-shot sound event detection in long recordings (sklearn_hallu.detection), the
soundscape generator, and ``sklearn-hallu detect``."""

import argparse

import numpy as np
import pytest
import soundfile as sf
from sklearn.pipeline import Pipeline

from sklearn_hallu import HalluAudioClassifier, LogMelTransformer
from sklearn_hallu.datasets import make_sounds, make_soundscape, write_soundscape
from sklearn_hallu.detection import (
    AudioReadError,
    Event,
    detect_events,
    energy_events,
    event_scores,
    read_events,
    write_events,
)
from sklearn_hallu.exceptions import SilentClipWarning

SR = 8000
TARGET = 10
LOGMEL = dict(sr=SR, n_mels=32, n_fft=256, hop_length=128, fmax=4000.0, duration=0.5)


@pytest.fixture(scope="module", autouse=True)
def one_torch_thread():
    """The tiny STFTs and convolutions here run faster on one thread, and much faster
    than two on a shared machine (measured: 6 s against 38 s for the F1 test)."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def model():
    """A small network trained on 10 classes of make_sounds (a few seconds)."""
    X, y = make_sounds(n_classes=14, n_per_class=12, sr=SR, duration=0.5, random_state=0)
    base = y < 10
    clf = HalluAudioClassifier(n_way=5, k_shot=3, n_query=3, max_epochs=8, lr_step=6,
                               channels=(16, 16, 16), random_state=0, n_threads=1)
    return Pipeline([("logmel", LogMelTransformer(**LOGMEL)), ("clf", clf)]).fit(X[base],
                                                                                 y[base])


@pytest.fixture(scope="module")
def novel():
    """Event clips of the 4 classes the model never saw (same class definitions)."""
    E, y = make_sounds(n_classes=14, n_per_class=20, sr=SR, duration=1.5, random_state=0)
    return E[y >= 10], y[y >= 10]


def scape(novel, seed, duration=120.0, **kw):
    """A soundscape where class 10 is the target (half the events), 11-13 distractors."""
    E, y = novel
    params = dict(sr=SR, duration=duration, events_per_minute=20,
                  class_weights={10: 3, 11: 1, 12: 1, 13: 1}, random_state=seed)
    return make_soundscape(E, y, **(params | kw))


def dcase(events, n=5):
    ref = [e for e in events if e[2] == TARGET]
    return ref[:n], ref, ref[n - 1][1]


# ------------------------------------------------------------------ the metric
def test_event_scores_iou_one_to_one_and_labels():
    ref = [(1.0, 2.0, "a"), (5.0, 6.0, "a"), (8.0, 9.0, "b")]
    est = [(1.1, 2.1, "a"), (1.0, 1.9, "a"),   # two estimates of one event: one TP, one FP
           (5.0, 5.25, "a"),                   # IoU 0.25 < 0.3: no match
           (8.0, 9.0, "a")]                    # right time, wrong label
    s = event_scores(ref, est)
    assert (s["tp"], s["fp"], s["fn"]) == (1, 3, 2)
    assert s["f1"] == pytest.approx(2 / 7)
    assert event_scores(ref, est, labels=False)["tp"] == 2
    assert event_scores(ref, est, min_iou=0.2)["tp"] == 2
    # DCASE: nothing before the support's end is scored, on either side
    assert event_scores(ref, est, start=4.0)["n_reference"] == 2
    assert event_scores(ref, est, start={"b": 8.5})["n_reference"] == 2  # the two "a"
    # a maximum matching, not a greedy one: e0 could take r0 or r1, e1 only r0
    ref2, est2 = [(0.0, 2.0, "x"), (1.0, 3.0, "x")], [(0.5, 2.5, "x"), (0.0, 1.8, "x")]
    assert event_scores(ref2, est2)["tp"] == 2
    assert event_scores([], [])["f1"] == 0.0


def test_events_files_round_trip_atomically(tmp_path, monkeypatch):
    events = [Event(1.0, 2.5, "dog", 0.9), Event(3.0, 4.0, "bird", 0.7)]
    for name in ("e.csv", "e.json"):
        write_events(tmp_path / name, events)
        back = read_events(tmp_path / name)
        assert [(e.onset, e.offset, e.label) for e in back] == [e[:3] for e in events]
    # DCASE Task 5 annotations: a POS column per class (Q: the class of the file)
    (tmp_path / "d.csv").write_text("Audiofilename,Starttime,Endtime,Q\n"
                                    "a.wav,1.0,1.5,POS\na.wav,2.0,2.5,UNK\na.wav,3.0,3.2,POS\n")
    assert [e[:3] for e in read_events(tmp_path / "d.csv")] == [(1.0, 1.5, "POS"),
                                                                (3.0, 3.2, "POS")]
    # a write that fails halfway (a full disk) leaves the file as it was, and no temporary
    import csv

    class FullDisk:
        def __init__(self, f, **kw):
            self.f = f

        def writerow(self, row):
            self.f.write("onset,offset,label,score\n")

        def writerows(self, rows):
            raise OSError("No space left on device")

    before = (tmp_path / "e.csv").read_bytes()
    monkeypatch.setattr(csv, "writer", FullDisk)
    with pytest.raises(OSError, match="No space"):
        write_events(tmp_path / "e.csv", events + events)
    monkeypatch.undo()
    assert (tmp_path / "e.csv").read_bytes() == before
    assert not list(tmp_path.glob(".e.csv.*"))
    with pytest.raises(ValueError, match="onset,offset,label"):
        (tmp_path / "bad.csv").write_text("a,b\n1,2\n")
        read_events(tmp_path / "bad.csv")


# ------------------------------------------------------------------ the generator
def test_make_soundscape_is_seeded_long_polyphonic_and_exact(novel):
    wave, events = scape(novel, 0)
    again, events2 = scape(novel, 0)
    assert np.array_equal(wave, again) and events == events2
    assert wave.shape == (120 * SR,) and wave.dtype == np.float32 and np.abs(wave).max() < 1
    labels = {e[2] for e in events}
    assert labels == {10, 11, 12, 13}
    overlaps = [(a, b) for i, a in enumerate(events) for b in events[i + 1:]
                if b[0] < a[1]]
    assert overlaps, "no overlapping events"
    assert all(a[2] != b[2] for a, b in overlaps)  # never two events of one class at once
    # the annotations are exact: the residual outside every event is the background alone
    quiet = np.ones(wave.shape[0], dtype=bool)
    for on, off, _ in events:
        quiet[int(on * SR): int(np.ceil(off * SR))] = False
    assert np.sqrt(np.mean(wave[quiet] ** 2)) == pytest.approx(0.02, rel=0.15)
    # background recordings instead of noise
    bg = [0.1 * np.sin(np.arange(SR * 3) / 5.0)]
    w2, _ = make_soundscape(*novel, sr=SR, duration=30, n_events=4, background=bg,
                            random_state=1)
    assert w2.shape == (30 * SR,)
    with pytest.raises(ValueError, match="background must be"):
        make_soundscape(*novel, sr=SR, duration=30, background="purple")


def test_write_soundscape_writes_wav_and_annotations(novel, tmp_path):
    wave, events = scape(novel, 1, duration=30)
    wav, csv_path = write_soundscape(tmp_path / "s.wav", wave, events, sr=SR)
    y, sr = sf.read(wav, dtype="float32")
    assert sr == SR and np.abs(y - wave).max() < 1e-3
    assert [e[:3] for e in read_events(csv_path)] == [
        (round(a, 4), round(b, 4), str(c)) for a, b, c in events]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["s.csv", "s.wav"]


# ------------------------------------------------------------------ the detector
def test_detector_beats_the_energy_detector(model, novel):
    """Pooled over 3 soundscapes of 2 minutes: F1 at IoU >= 0.3 of the DCASE mode."""
    counts = {"ours": [0, 0], "energy": [0, 0], "no_background": [0, 0]}
    for seed in range(3):
        wave, events = scape(novel, seed)
        support, ref, start = dcase(events)
        runs = {"ours": detect_events(model, wave, support_events=support, progress=False),
                "no_background": detect_events(model, wave, support_events=support,
                                               background=False, progress=False),
                "energy": energy_events(wave, sr=SR, label=TARGET)}
        for name, est in runs.items():
            s = event_scores(ref, est, start=start)
            counts[name][0] += 2 * s["tp"]
            counts[name][1] += 2 * s["tp"] + s["fp"] + s["fn"]
    f1 = {k: a / b for k, (a, b) in counts.items()}
    assert f1["ours"] > f1["energy"] + 0.1, f1
    assert f1["ours"] > 0.6 and f1["no_background"] > 0.5, f1


def test_dcase_mode_searches_after_the_support(model, novel):
    wave, events = scape(novel, 3)
    support, ref, start = dcase(events)
    found, scores = detect_events(model, wave, support_events=support, progress=False,
                                  return_scores=True)
    assert scores.support_end == {TARGET: start}
    assert found and all(e.onset >= start and e.label == TARGET for e in found)
    assert all(isinstance(e, Event) and 0 < e.score <= 1 for e in found)
    assert scores.proba.shape == (scores.start.size, 1) and list(scores.classes) == [TARGET]
    # re-thresholding the same scores gives the same events as a new run at that setting
    again = detect_events(model, wave, support_events=support, progress=False,
                          threshold=0.7, smoothing=0.0)
    assert scores.events(threshold=0.7, smoothing=0.0) == again
    # other labels' events are support too: every label is searched
    both = detect_events(model, wave, support_events=[e for e in events if e[2] in (10, 11)],
                         progress=False)
    assert {e.label for e in both} == {10, 11}


def test_support_clips_find_the_same_events(model, novel):
    E, y = novel
    wave, events = scape(novel, 4)
    clips = [E[np.flatnonzero(y == c)[k]] for c in (10, 11) for k in range(5)]
    found = detect_events(model, wave, support=(clips, [10] * 5 + [11] * 5), progress=False)
    ref = [e for e in events if e[2] in (10, 11)]
    assert event_scores(ref, found)["f1"] > 0.5


def test_the_recording_is_streamed_in_bounded_blocks(model, novel, tmp_path, monkeypatch):
    wave, events = scape(novel, 5, duration=60)
    support = dcase(events)[0]
    path = tmp_path / "rec.wav"
    sf.write(path, wave, SR, subtype="FLOAT")
    sizes, real_read = [], sf.SoundFile.read

    def spy(self, frames=-1, *args, **kwargs):
        sizes.append(frames)
        return real_read(self, frames, *args, **kwargs)

    monkeypatch.setattr(sf.SoundFile, "read", spy)
    monkeypatch.setattr(sf, "read", None)  # reading the whole file at once would fail
    from_file, s_file = detect_events(model, str(path), support_events=support, batch_size=16,
                                      progress=False, return_scores=True)
    monkeypatch.undo()
    assert sizes and all(0 < n <= 16 * SR // 8 + SR for n in sizes)  # 16 hops + a window
    assert len(sizes) > 20
    from_array, s_array = detect_events(model, wave, support_events=support, progress=False,
                                        return_scores=True)
    assert from_file == from_array
    np.testing.assert_allclose(s_file.proba, s_array.proba, atol=1e-5)


# ------------------------------------------------------------------ bad input
def test_a_recording_shorter_than_one_window_is_refused_by_name(model, tmp_path):
    path = tmp_path / "short.wav"
    sf.write(path, np.zeros(SR // 4, dtype="float32") + 0.1, SR)
    with pytest.raises(ValueError, match=r"short.wav.*shorter than one window.*window="):
        detect_events(model, str(path), support_events=[(0.0, 0.1, "x")], progress=False)
    # a shorter window makes it searchable
    detect_events(model, str(path), window=0.125, support_events=[(0.0, 0.1, "x")],
                  background=1, progress=False)


def test_a_silent_recording_has_no_events_and_warns(model, novel):
    E, y = novel
    with pytest.warns(SilentClipWarning, match="silent throughout"):
        found = detect_events(model, np.zeros(SR * 20, dtype="float32"),
                              support=(E[y == 10][:3], [10] * 3), progress=False)
    assert found == []


def test_bad_support_events_are_refused_with_the_way_out(model, novel):
    wave, events = scape(novel, 6, duration=30)
    with pytest.raises(ValueError, match=r"shorter than one analysis frame.*Widen"):
        detect_events(model, wave, support_events=[(1.0, 1.01, "a"), (2.0, 3.0, "a")],
                      progress=False)
    with pytest.raises(ValueError, match=r"overlap.*Merge them"):
        detect_events(model, wave, support_events=[(1.0, 2.0, "a"), (1.5, 3.0, "a")],
                      progress=False)
    # events of two classes at once are polyphony, not a mistake: each serves its class
    found, scores = detect_events(model, wave, support_events=[
        (1.0, 2.0, "a"), (1.5, 3.0, "b"), (4.0, 5.0, "a"), (4.5, 5.5, "b")], progress=False,
        return_scores=True)
    assert list(scores.classes) == ["a", "b"]
    with pytest.raises(ValueError, match="after the end"):
        detect_events(model, wave, support_events=[(31.0, 32.0, "a")], progress=False)
    with pytest.raises(ValueError, match="offset must come after the onset"):
        detect_events(model, wave, support_events=[(2.0, 1.0, "a")], progress=False)
    with pytest.raises(ValueError, match="not both"):
        detect_events(model, wave, support=([wave[:SR]], ["a"]),
                      support_events=[(1.0, 2.0, "a")], progress=False)
    with pytest.raises(ValueError, match="longer than the model's clips"):
        detect_events(model, wave, support_events=[(1.0, 2.0, "a")], window=2.0)


def test_another_sample_rate_is_resampled_on_the_fly(model, novel, tmp_path):
    wave, events = scape(novel, 7, duration=60)
    support = dcase(events)[0]
    import soxr

    path = tmp_path / "rec16k.flac"
    sf.write(path, soxr.resample(wave, SR, 2 * SR), 2 * SR)
    from_file, s_file = detect_events(model, str(path), support_events=support,
                                      progress=False, return_scores=True)
    from_array, s_array = detect_events(model, wave, support_events=support, progress=False,
                                        return_scores=True)
    assert s_file.proba.shape == s_array.proba.shape
    assert np.corrcoef(s_file.proba[:, 0], s_array.proba[:, 0])[0, 1] > 0.95
    assert event_scores(from_array, from_file)["f1"] > 0.8


def test_a_file_that_fails_to_decode_halfway_names_the_file_and_time(model, tmp_path):
    y = (0.1 * np.random.default_rng(0).normal(size=SR * 20)).astype("float32")
    flac, wav = tmp_path / "rec.flac", tmp_path / "rec.wav"
    sf.write(flac, y, SR)
    sf.write(wav, y, SR)
    data = flac.read_bytes()
    flac.write_bytes(data[: len(data) // 2])  # an interrupted copy
    wav.write_bytes(wav.read_bytes()[: 44 + 2 * SR * 7])  # 7 of 20 s
    kw = dict(support_events=[(1.0, 1.5, "x"), (3.0, 3.5, "x")], progress=False)
    with pytest.raises(AudioReadError, match=r"rec\.flac.*past \d+\.\d s of its 20\.0 s") as e:
        detect_events(model, str(flac), **kw)
    assert e.value.path == str(flac) and 0 < e.value.seconds < 20
    with pytest.raises(AudioReadError, match=r"rec\.wav.*truncated.*20\.0 s.*7\.0 s"):
        detect_events(model, str(wav), **kw)


def test_energy_detector_streams_files_like_arrays(tmp_path):
    rng = np.random.default_rng(0)
    y = (0.01 * rng.normal(size=SR * 30)).astype("float32")
    for a in (5, 12, 20):
        y[a * SR: (a + 1) * SR] += 0.3 * np.sin(np.arange(SR) / 3.0)
    sf.write(tmp_path / "e.wav", y, SR, subtype="FLOAT")
    from_array = energy_events(y, sr=SR, label="loud", smoothing=0.25)
    assert [(round(e.onset), round(e.offset)) for e in from_array] == [(5, 6), (12, 13),
                                                                         (20, 21)]
    assert energy_events(str(tmp_path / "e.wav"), label="loud", smoothing=0.25) == from_array
    with pytest.raises(ValueError, match="give sr"):
        energy_events(y)


# ------------------------------------------------------------------ the command line
def _detect_cli(argv):
    """``sklearn-hallu detect ARGV`` through the parser the command line hooks in."""
    from sklearn_hallu.apps._detect_cmd import add_detect_parser
    from sklearn_hallu.apps.cli import _HelpFormatter

    parser = argparse.ArgumentParser(prog="sklearn-hallu")
    add_detect_parser(parser.add_subparsers(dest="command", required=True), _HelpFormatter)
    args = parser.parse_args(["detect", *argv])
    return args.func(args)


def test_cli_detect_end_to_end(model, novel, tmp_path, capsys):
    from sklearn_hallu.persistence import dump

    dump(model, tmp_path / "m.skops")
    wave, events = scape(novel, 8, duration=60)
    wav, ann = write_soundscape(tmp_path / "rec.wav", wave, events, sr=SR)
    (tmp_path / "target.csv").write_text("onset,offset,label\n" + "".join(
        f"{a},{b},{c}\n" for a, b, c in events if c == TARGET))
    out = tmp_path / "found.csv"
    assert _detect_cli([str(tmp_path / "m.skops"), str(wav), "--first-events",
                        str(tmp_path / "target.csv"), "--n-events", "5", "--out", str(out),
                        "--no-progress"]) == 0
    err = capsys.readouterr().err
    assert "events of 1 class(es) in 60.0 s of audio" in err and "x real time" in err
    found = read_events(out)
    support, ref, start = dcase(events)
    assert found and all(e.label == str(TARGET) and e.onset >= start for e in found)
    same = detect_events(model, str(wav), support_events=read_events(tmp_path / "target.csv"),
                         progress=False)
    assert [(round(e.onset, 4), round(e.offset, 4), e.label) for e in same] == [
        e[:3] for e in found]
    # JSON, chosen by the extension; with support clips from a folder of class folders
    E, y = novel
    for k in range(3):
        (tmp_path / "support" / "ten").mkdir(parents=True, exist_ok=True)
        sf.write(tmp_path / "support" / "ten" / f"{k}.wav", E[y == 10][k], SR)
    assert _detect_cli([str(tmp_path / "m.skops"), str(wav), "--support",
                        str(tmp_path / "support"), "--out", str(tmp_path / "f.json"),
                        "--no-progress", "--threshold", "0.6"]) == 0
    assert {e.label for e in read_events(tmp_path / "f.json")} == {"ten"}
    # to stdout without --out
    capsys.readouterr()
    assert _detect_cli([str(tmp_path / "m.skops"), str(wav), "--first-events",
                        str(tmp_path / "target.csv"), "--no-progress"]) == 0
    assert capsys.readouterr().out.startswith("onset,offset,label,score\n")


def test_cli_detect_failure_leaves_the_output_as_it_was(model, tmp_path):
    from sklearn_hallu.apps._cli_files import CLIError
    from sklearn_hallu.persistence import dump

    dump(model, tmp_path / "m.skops")
    y = (0.1 * np.random.default_rng(0).normal(size=SR * 20)).astype("float32")
    sf.write(tmp_path / "rec.flac", y, SR)
    data = (tmp_path / "rec.flac").read_bytes()
    (tmp_path / "rec.flac").write_bytes(data[: len(data) // 2])
    (tmp_path / "ann.csv").write_text("onset,offset,label\n1.0,1.5,x\n3.0,3.5,x\n")
    out = tmp_path / "events.csv"
    out.write_text("the events of yesterday\n")
    argv = [str(tmp_path / "m.skops"), str(tmp_path / "rec.flac"), "--first-events",
            str(tmp_path / "ann.csv"), "--out", str(out), "--no-progress"]
    with pytest.raises(AudioReadError, match=r"rec\.flac.*past"):
        _detect_cli(argv)
    assert out.read_text() == "the events of yesterday\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ann.csv", "events.csv", "m.skops",
                                                          "rec.flac"]
    with pytest.raises(CLIError, match="does not exist"):
        _detect_cli([str(tmp_path / "m.skops"), str(tmp_path / "nope.wav"), "--first-events",
                     str(tmp_path / "ann.csv")])
    with pytest.raises(CLIError, match="is a folder"):
        _detect_cli(argv[:-3] + ["--out", str(tmp_path)])


def test_cli_detect_help_says_the_library_defaults(capsys):
    from sklearn_hallu.detection import _detect

    with pytest.raises(SystemExit):
        _detect_cli(["--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert f"(default: {_detect.DEFAULT_THRESHOLD:g})" in text
    assert f"(default: {_detect.DEFAULT_WINDOW_S:g}, or the model's duration" in text
    assert _detect.SMOOTHING_WINDOWS == 1 and "(default: one window)" in text
    assert _detect.MIN_DURATION_WINDOWS == 0.5 and "(default: half a window)" in text


def test_cli_detect_is_hooked_into_the_command_line():
    """Once ``build_parser`` adds the command, ``sklearn-hallu detect`` runs it."""
    from sklearn_hallu.apps import cli

    parser = cli.build_parser(["detect"])
    if "detect" not in parser._subparsers._group_actions[0].choices:
        pytest.skip("the detect command is not hooked into cli.build_parser yet")
    with pytest.raises(SystemExit) as e:
        cli.main(["detect", "--help"])
    assert e.value.code == 0


def test_without_a_support_the_models_own_classes_are_searched(model, novel):
    import copy

    from sklearn_hallu import fit_support

    E, y = novel
    wave, events = scape(novel, 9, duration=60)
    model = fit_support(copy.deepcopy(model), E[y >= 12][:, :SR // 2], y[y >= 12])
    found, scores = detect_events(model, wave, progress=False, return_scores=True)
    assert list(scores.classes) == [12, 13] and scores.window == 0.5
    assert {e.label for e in found} <= {12, 13}
    with pytest.raises(ValueError, match="background=False needs a support set"):
        detect_events(model, wave, background=False, progress=False)


def test_own_prototypes_of_other_test_time_shifts_are_refused(model, novel):
    import copy

    wave, _ = scape(novel, 5, duration=10.0)
    shifted = copy.deepcopy(model).set_params(clf__test_time_shifts=2)
    with pytest.raises(ValueError, match="test_time_shifts=1, not the current 2.*support="):
        detect_events(shifted, wave, progress=False)
