"""The tests' fixtures: small real images on disk, tiny saved and served models, registries put
back as they were. Helpers (functions, classes) live in helpers.py."""

import numpy as np
import pytest

# Re-exported for test modules that still import these from conftest; new code imports helpers.
from helpers import (REPO, TINY, build_served_models, chromium_session, default_sigint, read_rgb,  # noqa: F401
                     run_cli, ServerProcess, smooth_photo, write_ab_pairs, write_image)


@pytest.fixture
def ab_dir(tmp_path):
    """Five 40x80 A|B pairs named 1.png .. 5.png, where B is the colour-inverted A."""
    return write_ab_pairs(tmp_path / "ab")


@pytest.fixture
def photo_dir(tmp_path):
    """Four single colour photos (48x40 .jpg)."""
    rng = np.random.default_rng(1)
    directory = tmp_path / "photos"
    directory.mkdir()
    for i in range(4):
        write_image(directory / f"photo{i}.jpg", smooth_photo(rng, 48, 40))
    return directory


@pytest.fixture
def chromium():
    """A headless Chromium driver (modules using it call helpers.require_chromium first)."""
    with chromium_session() as driver:
        yield driver


@pytest.fixture(scope="module")
def served_models(tmp_path_factory):
    """(training directory, TF Serving base directory with versions 1 and 2) of one tiny model."""
    return build_served_models(tmp_path_factory.mktemp("serve"))


@pytest.fixture(scope="module")
def server(served_models):
    """The server over the base directory (so version 2 is served), --max_request_mb 1."""
    _, base = served_models
    process = ServerProcess("--checkpoint", base, "--max_request_mb", 1, "--max_queue", 8)
    yield process
    process.kill()


def _registries():
    from pix2pix.data.tasks import TASKS
    from pix2pix.models.discriminators import DISCRIMINATORS
    from pix2pix.models.generators import GENERATORS
    from pix2pix.models.losses import GAN_LOSSES
    from pix2pix.models.norms import NORMS
    from pix2pix.models.schedules import SCHEDULES
    # The Registry tables have no public removal (a name is registered once, for the process's
    # life): their dict is restored as a whole.
    registries = (GENERATORS, DISCRIMINATORS, GAN_LOSSES, NORMS, SCHEDULES)
    return [TASKS] + [registry._entries for registry in registries]


@pytest.fixture
def restore_registries():
    """Every name table (tasks, generators, discriminators, GAN losses, norms, LR policies) as it
    was before the test: what a test registers is gone after it, so another test (or a second run
    of the same one) sees only the built-in choices."""
    tables = _registries()
    before = [dict(table) for table in tables]
    yield
    for table, entries in zip(tables, before):
        table.clear()
        table.update(entries)
