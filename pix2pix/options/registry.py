"""Name -> builder tables: how tasks, generators, discriminators, GAN losses, norms and LR policies
are chosen by a flag (as the PyTorch pix2pix's define_G / define_D / GANLoss, Keras-native).

    GENERATORS = Registry("generator", flag="netG")      (in models/generators.py)

    @GENERATORS.register("unet")
    def unet(...): ...

    GENERATORS.get("unet")          # the builder, or a Pix2PixError naming --netG and the choices
    GENERATORS.validate(options)    # the flag's value is registered, and the entry's own checks pass

The tables are made and filled by the modules of what they build (data/tasks.py, models/: they
need TensorFlow); each is listed here, by its flag, as it is made, and `Options.validate` checks
every table listed (validate_names). No TensorFlow here: this floor only holds the names. A table
is listed once its module has loaded, which everything that builds a model or reads data does
first (modes.preparation.prepare, Pix2Pix, the data pipeline).
"""

from typing import Callable, Dict, List, Optional

from pix2pix.errors import Pix2PixError, UsageError

# flag -> the table its value is chosen from, in the order the tables were made
REGISTRIES: Dict[str, "Registry"] = {}


def validate_names(options) -> None:
    """Every listed table checks its flag's value in OPTIONS: registered, and its entry's own checks."""
    for registry in list(REGISTRIES.values()):
        registry.validate(options)


class Registry:
    """An ordered table of named builders for one kind of thing, chosen by one flag."""

    def __init__(self, kind: str, flag: str, check: Optional[Callable] = None, entries: Optional[dict] = None):
        """CHECK(options, entry) raises Pix2PixError for values the chosen ENTRY cannot work with.
        ENTRIES: a dict the table keeps its entries in (default: its own)."""
        if flag in REGISTRIES:
            raise ValueError(f"--{flag} has a table already ({REGISTRIES[flag].kind})")
        self.kind, self.flag, self.check = kind, flag, check
        self._entries: Dict[str, Callable] = {} if entries is None else entries
        REGISTRIES[flag] = self

    def register(self, name: str, **facts):
        """Decorator: add the decorated builder under NAME; FACTS become its attributes."""
        def add(builder):
            if name in self._entries:
                raise ValueError(f"{self.kind} {name!r} is registered twice")
            for key, value in facts.items():
                setattr(builder, key, value)
            self._entries[name] = builder
            return builder
        return add

    def get(self, name: str) -> Callable:
        if name not in self._entries:
            raise Pix2PixError(f"--{self.flag}: no {self.kind} named {name!r}; "
                               f"choose one of {', '.join(self._entries)}")
        return self._entries[name]

    def validate(self, options) -> None:
        """Raise Pix2PixError naming the flag if OPTIONS' value is not registered or cannot work."""
        value = getattr(options, self.flag)
        if value not in self._entries:
            raise UsageError(f"--{self.flag}: must be one of {', '.join(self._entries)}, got {value!r}")
        if self.check is not None:
            self.check(options, self._entries[value])

    def names(self) -> List[str]:
        return list(self._entries)

    def __contains__(self, name) -> bool:
        return name in self._entries
