"""Sound event detection in long recordings from a few examples (few-shot SED).

"Here are five examples of this sound: where else does it occur?"
:func:`detect_events` scans a recording of any length window by window (read
from disk a batch at a time), compares each window with the examples'
prototypes and with background prototypes learnt from the recording itself,
and returns the events found; :func:`energy_events` is the loudness detector it
is compared with, and :func:`event_scores` the event-based F-measure at
IoU >= 0.3 of the DCASE few-shot bioacoustic task.

.. versionadded:: 0.2.0
"""

from ._detect import DetectionScores, detect_events
from ._energy import energy_events
from ._events import Event, event_scores, read_events, write_events
from ._source import AudioReadError

__all__ = [
    "detect_events",
    "DetectionScores",
    "Event",
    "energy_events",
    "event_scores",
    "read_events",
    "write_events",
    "AudioReadError",
]
