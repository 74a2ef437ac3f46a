"""A trained generator at work on photos of any size: the ImageTranslator (the exported SavedModel's
root, used by export, infer and serve) and video."""
