"""What a mode is: one `Mode` record, declared in one module of modes/catalog/.

The record says everything the command line needs before the mode runs: its name (--mode NAME),
a purpose and an example for `--help`, the flags it needs and the folders it reads (checked
before TensorFlow loads), the flags it reads (beyond those whose Options field names it) and the
function that runs it. The mode list, the dispatch table and the help all come from these records
(modes/__init__.py collects them). No TensorFlow here, and none in a catalog module: a mode's
code is imported only when it runs (`run` may be "package.module:function").
"""

import dataclasses
import importlib
from typing import Callable, Dict, Optional, Tuple, Union


@dataclasses.dataclass(frozen=True)
class Mode:
    """One --mode. RUN(options, explicit) -> exit status (0 or None: done); a Pix2PixError for bad
    input. NEEDS: {flag: what it must be} for flags that must be given; FOLDERS: flags naming
    folders that must exist (and be given); FLAGS: Options fields this mode reads besides those
    whose `modes` metadata names it (a new mode reading existing flags); CHECK(options): more of
    what the command line alone can tell (UsageError); ORDER: its place in `--help`; DETERMINISTIC:
    its generator runs with dropout off unless --nodeterministic (one photo, one answer)."""

    name: str
    purpose: str
    example: str
    run: Union[str, Callable]
    needs: Dict[str, str] = dataclasses.field(default_factory=dict)
    folders: Tuple[str, ...] = ()
    flags: Tuple[str, ...] = ()
    check: Optional[Callable] = None
    order: int = 100
    deterministic: bool = False

    def runner(self) -> Callable:
        """The function that runs this mode (its module imported now, when RUN is a path)."""
        if callable(self.run):
            return self.run
        module, function = self.run.split(":")
        return getattr(importlib.import_module(module), function)
