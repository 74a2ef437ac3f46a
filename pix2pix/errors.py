"""The one exception type the command line turns into a clean one-line error."""


class Pix2PixError(Exception):
    """A problem with the user's input (a flag, a file, a checkpoint), not a bug.

    The message names the flag or file and says what is wrong; the CLI prints it
    as `pix2pix: error: MESSAGE` and exits with status 1, without a traceback.
    """
