"""
Find the sounds of five examples in a long recording
====================================================

"Here are five examples of this sound: where else does it occur?" This is the
few-shot sound event detection task of DCASE (Task 5, bioacoustics): the first
five annotated events of a class in a recording are the examples, and the rest
of the recording is searched for more.

:func:`sklearn_hallu.detection.detect_events` scans the recording window by
window (a file is read from disk a batch at a time, so hours of audio never sit
in memory), compares each window with the examples' prototype and with
*background* prototypes learnt from the recording itself, and returns the events
found. Here a small network is trained on synthetic sounds, a two-minute
soundscape is made from classes it never saw (the target, and other sounds that
are not wanted), and the detector is compared with a plain loudness detector.
"""

# %%
import matplotlib.pyplot as plt
from sklearn.pipeline import Pipeline

from sklearn_hallu import HalluAudioClassifier, LogMelTransformer
from sklearn_hallu.datasets import make_sounds, make_soundscape
from sklearn_hallu.detection import detect_events, energy_events, event_scores

sr = 8000
X, y = make_sounds(n_classes=14, n_per_class=12, sr=sr, duration=0.5, random_state=0)
model = Pipeline([
    ("logmel", LogMelTransformer(sr=sr, n_mels=32, n_fft=256, hop_length=128, fmax=4000.0,
                                 duration=0.5)),
    ("clf", HalluAudioClassifier(n_way=5, k_shot=3, n_query=3, max_epochs=8, lr_step=6,
                                 channels=(16, 16, 16), random_state=0)),
]).fit(X[y < 10], y[y < 10])  # 10 classes to learn from; 10-13 are new

# %%
# A two-minute soundscape: events of the 4 new classes over pink noise, at 0 to
# 20 dB SNR, some overlapping. Class 10 is the sound we look for; 11-13 are other
# sounds. ``make_soundscape`` returns the exact annotations.
E, ye = make_sounds(n_classes=14, n_per_class=20, sr=sr, duration=1.5, random_state=0)
new = ye >= 10
wave, events = make_soundscape(E[new], ye[new], sr=sr, duration=120, events_per_minute=20,
                               class_weights={10: 3, 11: 1, 12: 1, 13: 1}, random_state=3)
target = [e for e in events if e[2] == 10]
support = target[:5]                     # the first five events are the examples
start = support[-1][1]                   # the search starts after them
print(f"{len(events)} events, {len(target)} of the target; searching after {start:.1f} s")

# %%
# Detect (DCASE mode: the support is cut from the recording itself), and the
# loudness reference on the same recording. The F-measure counts an event found
# when it overlaps a true one with an intersection over union of at least 0.3.
found, scores = detect_events(model, wave, support_events=support, progress=False,
                              return_scores=True)
loud = energy_events(wave, sr=sr, label=10)
for name, est in (("few-shot detector", found), ("energy detector", loud)):
    s = event_scores(target, est, start=start)
    print(f"{name:18s} F1 {s['f1']:.2f}  precision {s['precision']:.2f}  "
          f"recall {s['recall']:.2f}")

# %%
# The recording, its true events and what was found. The energy detector finds
# every loud sound, wanted or not; the few-shot detector only the target.
fig, (ax0, ax1, ax2) = plt.subplots(3, 1, figsize=(10, 6.5), sharex=True,
                                    gridspec_kw={"height_ratios": [3, 1, 1.6]})
ax0.specgram(wave, NFFT=256, Fs=sr, noverlap=128, cmap="magma")
ax0.set_ylabel("Hz")
ax0.set_title("Two-minute soundscape: the target (class 10) and other sounds")
ax1.plot(scores.start + scores.window / 2, scores.smoothed[:, 0], "k", lw=0.8)
ax1.axhline(0.4, color="tab:blue", ls="--", lw=0.8)  # the default threshold
ax1.set_ylabel("P(target)")
ax1.set_ylim(0, 1.05)
rows = [("other sounds", [e for e in events if e[2] != 10], "tab:gray"),
        ("target (true)", target, "tab:green"),
        ("few-shot detector", found, "tab:blue"),
        ("energy detector", loud, "tab:orange")]
for k, (_, evs, colour) in enumerate(rows):
    ax2.broken_barh([(e[0], e[1] - e[0]) for e in evs], (k - 0.4, 0.8), color=colour)
for ax in (ax1, ax2):
    ax.axvspan(0, start, color="k", alpha=0.08)  # the support: not searched
ax2.set_yticks(range(len(rows)), [r[0] for r in rows])
ax2.set_xlim(0, len(wave) / sr)
ax2.set_xlabel("time (s); shaded: the five examples, not searched")
fig.tight_layout()
plt.show()
