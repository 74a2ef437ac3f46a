"""The one-line progress bar of infer's photos and videos and test mode's images, on stderr, and
the one way every command writes a time left (h:mm:ss, format_duration).

    infer [#####-----] 12/40 photos  1.30 s/photo  0:00:36 left
    video clip.mp4 [#####-----] 120/300 frames  14.2 frames/s  0:00:12 left

Redrawn in place on a terminal; one line per update otherwise (log files), at most every
EVERY seconds there.
"""

import math
import sys
import time


def format_duration(seconds: float) -> str:
    """SECONDS as h:mm:ss (rounded up to a whole second): 0:00:36, 4:17:00, 26:03:09. Every "time
    left" of the project (training's progress lines, infer's and test's bars) is written this way."""
    total = max(0, int(math.ceil(seconds))) if math.isfinite(seconds) else 0
    return f"{total // 3600}:{total // 60 % 60:02d}:{total % 60:02d}"


class ProgressBar:
    """TOTAL things of UNIT (singular) under LABEL; the speed as seconds per thing, or as things
    per second with PER_SECOND (video frames). A TOTAL of 0 is unknown ("?")."""

    def __init__(self, total: int, stream=None, width: int = 30, label: str = "infer", unit: str = "photo",
                 per_second: bool = False, every: float = 0.0):
        self.total, self.width, self.label, self.unit = total, width, label, unit
        self.per_second, self.every = per_second, every
        self.stream = stream if stream is not None else sys.stderr
        self.in_place = hasattr(self.stream, "isatty") and self.stream.isatty()
        self.start = time.time()
        self.last = -1e9
        self.shown = None  # the count of the last line drawn

    def update(self, done: int, force: bool = False) -> None:
        now = time.time()
        if not force and now - self.last < (min(self.every, 0.2) if self.in_place else self.every):
            return
        self.last, self.shown = now, done
        elapsed = now - self.start
        total = max(self.total, done)
        per_thing = elapsed / max(done, 1)
        left = per_thing * (total - done) if done else 0.0
        filled = int(self.width * done / max(total, 1))
        bar = "#" * filled + "-" * (self.width - filled)
        speed = (f"{done / max(elapsed, 1e-9):.1f} {self.unit}s/s" if self.per_second
                 else f"{per_thing:.2f} s/{self.unit}")
        line = (f"{self.label} [{bar}] {done}/{self.total or '?'} {self.unit}s  {speed}  "
                f"{format_duration(left)} left")
        self.stream.write(("\r" + line) if self.in_place else (line + "\n"))
        self.stream.flush()

    def finish(self, done: int) -> None:
        """The last line (DONE things), unless it was drawn already, then close()."""
        if done != self.shown:
            self.update(done, force=True)
        self.close()

    def close(self) -> None:
        if self.in_place:
            self.stream.write("\n")
            self.stream.flush()
