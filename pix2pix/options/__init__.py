"""One record of every option of a run: defaults, validation and options.json."""
