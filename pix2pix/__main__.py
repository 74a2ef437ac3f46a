"""`python -m pix2pix` runs the command line."""

from pix2pix.commands.main import entry_point

if __name__ == "__main__":
    entry_point()
