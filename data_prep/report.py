"""Run summaries, per-file failure lines and the progress bar (stderr)."""

import dataclasses
import sys
import time
from typing import Optional

PROGRAM = "pix2pix-prep"  # the command, as its messages name it

# No progress output at all for runs shorter than this: quick runs stay quiet.
PROGRESS_DELAY_SECONDS = 1.0
# Redraw interval of the bar on a terminal.
BAR_REDRAW_SECONDS = 0.2
# When stderr is a file or pipe, one plain progress line this often instead.
LOG_LINE_SECONDS = 30.0
BAR_WIDTH = 30


class UsageError(ValueError):
    """Bad parameters (flags); the message names the flag, on one line."""


@dataclasses.dataclass
class Summary:
    """What a run did. Counts are per input file (a photo cut into 4 crops is 1 written)."""

    operation: str
    verb: str = "written"
    written: int = 0
    skipped: int = 0
    failed: int = 0
    files_written: int = 0
    seconds: float = 0.0
    failures: list = dataclasses.field(default_factory=list)  # (label, reason) pairs
    left_out: Optional[int] = None  # photos the colour filter left out; None when no filter ran
    left_out_files: list = dataclasses.field(default_factory=list)  # (label, reason) pairs
    not_images: int = 0  # files of --input_dir that are no image file (named as they are found)

    @property
    def ok(self):
        """True if no file failed."""
        return self.failed == 0

    def line(self):
        """The one-line summary printed at the end of a run."""
        files = ""
        if self.files_written != self.written:
            files = " (%d files)" % self.files_written
        left_out = "" if self.left_out is None else ", left out %d" % self.left_out
        not_images = ", not images %d" % self.not_images if self.not_images else ""
        return "%s: %s: %s %d%s, skipped %d, failed %d%s%s (%.1f s)" % (
            PROGRAM, self.operation, self.verb, self.written, files, self.skipped, self.failed, left_out,
            not_images, self.seconds)


class Reporter:
    """Prints failure lines as they happen and a progress indicator for long runs.

    On a terminal the indicator is a bar redrawn in place; otherwise (logs,
    CI, notebooks) it is an occasional plain line. Nothing is drawn during the
    first PROGRESS_DELAY_SECONDS, so short runs only print failures.
    """

    def __init__(self, stream=None, show_progress=True):
        self.stream = stream if stream is not None else sys.stderr
        self.show_progress = show_progress
        self.is_terminal = bool(getattr(self.stream, "isatty", lambda: False)())
        self.total = 0
        self.done = 0
        self.initial = 0
        self.unit = "files"
        self.started = time.monotonic()
        self.last_drawn = 0.0
        self.bar_visible = False

    def start(self, total, unit="files", done=0):
        """Begin counting ``total`` units of work (``unit`` "files" or "bytes"), ``done`` of
        them already done before this run (a resumed download); the rate counts this run's only."""
        self.total = total
        self.done = done
        self.initial = done
        self.unit = unit
        self.started = time.monotonic()
        self.last_drawn = self.started

    def _write(self, text):
        self.stream.write(text)
        self.stream.flush()

    def _clear_bar(self):
        if self.bar_visible:
            self._write("\r\x1b[K")
            self.bar_visible = False

    def message(self, text):
        """Print one line (prefixed with the program name), above the bar."""
        self._clear_bar()
        self._write("%s: %s\n" % (PROGRAM, text))

    def file_failed(self, label, reason):
        """Report a file that was skipped because it could not be processed."""
        self.message("skipped %s: %s" % (label, reason))

    def file_left_out(self, label, reason):
        """Report a photo that the colour filter did not keep, with its figures."""
        self.message("left out %s: %s" % (label, reason))

    def advance(self, count=1):
        """Record finished work and redraw the progress indicator if due."""
        self.done += count
        if not self.show_progress or not self.total:
            return
        now = time.monotonic()
        elapsed = now - self.started
        if elapsed < PROGRESS_DELAY_SECONDS:
            return
        if self.is_terminal:
            if now - self.last_drawn < BAR_REDRAW_SECONDS and self.done < self.total:
                return
        elif now - self.last_drawn < LOG_LINE_SECONDS or self.done == self.total:
            return  # in logs, the summary line reports the end
        self.last_drawn = now
        rate = (self.done - self.initial) / elapsed if elapsed > 0 else 0.0
        remaining = (self.total - self.done) / rate if rate > 0 else 0.0
        counts, speed = self._counts_and_speed(rate)
        if self.is_terminal:
            filled = min(BAR_WIDTH, int(BAR_WIDTH * self.done / self.total))
            self._write("\r[%s%s] %s  %s  ~%ds left\x1b[K" % (
                "#" * filled, "." * (BAR_WIDTH - filled), counts, speed, remaining))
            self.bar_visible = True
        else:
            if self.unit == "files":
                counts += " files"
            self._write("%s: %s (%d%%), %s, ~%ds left\n" % (
                PROGRAM, counts, 100 * self.done // self.total, speed, remaining))

    def _counts_and_speed(self, rate):
        """("12/40", "3.1 files/s") or, for bytes, ("12.3/30.1 MB", "2.1 MB/s")."""
        if self.unit == "bytes":
            return "%.1f/%.1f MB" % (self.done / 1e6, self.total / 1e6), "%.1f MB/s" % (rate / 1e6)
        return "%d/%d" % (self.done, self.total), "%.1f files/s" % rate

    def finish(self):
        """Remove the bar so the summary starts on a clean line."""
        self._clear_bar()
