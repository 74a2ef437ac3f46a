"""The one exception type the command line turns into a clean one-line error."""

import difflib


class Pix2PixError(Exception):
    """A problem with the user's input (a flag, a file, a checkpoint), not a bug.

    The message names the flag or file and says what is wrong; the CLI prints it
    as `pix2pix: error: MESSAGE` and exits with status 1, without a traceback.
    """


def error_line(err: BaseException, prefer=()) -> str:
    """The informative line of an exception's message (TensorFlow's run to many lines): the
    first line containing one of PREFER, else the first non-empty line."""
    text = getattr(err, "message", None) or str(err)
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    for line in lines:
        if any(marker in line for marker in prefer):
            return line
    return lines[0] if lines else type(err).__name__


class UsageError(Pix2PixError):
    """A command line that cannot work: a flag's value out of range, flags that do not go
    together, a flag that contradicts a stored option. The CLI exits with status 2 for these
    (1 for the other Pix2PixErrors: what went wrong while running)."""


def did_you_mean(value, choices) -> str:
    """" (did you mean 'train'?)" when VALUE is close to one of CHOICES, else "": the end of the
    error for an unknown name."""
    close = difflib.get_close_matches(str(value), list(choices), n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""
