"""Run summaries, per-file failure lines and the progress bar (stderr)."""

import dataclasses
import sys
import time

PROGRAM = "data_prep"

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

    @property
    def ok(self):
        """True if no file failed."""
        return self.failed == 0

    def line(self):
        """The one-line summary printed at the end of a run."""
        files = ""
        if self.files_written != self.written:
            files = " (%d files)" % self.files_written
        return "%s: %s: %s %d%s, skipped %d, failed %d (%.1f s)" % (
            PROGRAM, self.operation, self.verb, self.written, files, self.skipped, self.failed, self.seconds)


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
        self.started = time.monotonic()
        self.last_drawn = 0.0
        self.bar_visible = False

    def start(self, total):
        """Begin counting ``total`` units of work."""
        self.total = total
        self.done = 0
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
        rate = self.done / elapsed if elapsed > 0 else 0.0
        remaining = (self.total - self.done) / rate if rate > 0 else 0.0
        if self.is_terminal:
            filled = int(BAR_WIDTH * self.done / self.total)
            self._write("\r[%s%s] %d/%d  %.1f files/s  ~%ds left\x1b[K" % (
                "#" * filled, "." * (BAR_WIDTH - filled), self.done, self.total, rate, remaining))
            self.bar_visible = True
        else:
            self._write("%s: %d/%d files (%d%%), %.1f files/s, ~%ds left\n" % (
                PROGRAM, self.done, self.total, 100 * self.done // self.total, rate, remaining))

    def finish(self):
        """Remove the bar so the summary starts on a clean line."""
        self._clear_bar()
