"""The modes of the `pix2pix` command, one module each (train, test, score, export, infer, import, serve)."""
