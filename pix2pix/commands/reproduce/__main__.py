"""`python -m pix2pix.commands.reproduce` runs pix2pix-reproduce."""

from pix2pix.commands.reproduce import main

if __name__ == "__main__":
    main()
