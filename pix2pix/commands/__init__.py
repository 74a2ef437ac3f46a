"""The command lines: `pix2pix` and `pix2pix-reproduce`."""
