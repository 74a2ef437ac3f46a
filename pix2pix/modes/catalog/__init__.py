"""One module per mode, each declaring `MODE = Mode(...)` (modes/definition.py); modes/__init__.py
collects every module here. Nothing here imports TensorFlow: each mode's code is named by `run`
and imported only when the mode runs."""
