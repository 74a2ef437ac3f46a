"""The tests' fixtures: small real images on disk, tiny saved, trained and served models (built once
per test run), registries put back as they were. Helpers (functions, classes) live in helpers.py."""

import json
import os

import numpy as np
import pytest

from helpers import (SCRIPTS, TINY, build_once, build_served_models, chromium_session, export_options, main_in_process,
                     make_run, run_cli, run_script, ServerProcess, smooth_photo, write_ab_pairs, write_image)


@pytest.fixture(scope="session")
def shared_dir(tmp_path_factory):
    """A folder every pytest-xdist worker of this test run sees (the parent of the workers' own
    base folders), for what is built once per run (helpers.build_once); read-only to tests: a test
    that changes something there works on a copy (shutil.copytree)."""
    base = tmp_path_factory.getbasetemp()
    return base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base


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


@pytest.fixture(scope="session")
def served_models(shared_dir):
    """(training directory, TF Serving base directory with versions 1 and 2) of one tiny untrained
    Lab colorization model (helpers.build_served_models), built once per test run."""
    base = build_once(shared_dir, "served_models", build_served_models)
    return base / "run", base / "models" / "color"


@pytest.fixture(scope="session")
def rendered_lab_export(shared_dir, served_models):
    """served_models' Lab run exported with --render_size 32 (dropout off, the default), built once per test
    run (test_render_size and test_video read it rather than each exporting the same): the export directory."""
    def export(base):
        from pix2pix.modes.export import export_mode

        export_mode(export_options(served_models[0], base / "export", render_size=32))

    return build_once(shared_dir, "rendered_lab_export", export) / "export"


@pytest.fixture(scope="session")
def untrained_pairs(shared_dir):
    """helpers.make_run's pair model (options.json + checkpoint model-1 of untrained weights, crop 32,
    ngf = ndf = 8), built once per test run: its training directory."""
    return build_once(shared_dir, "untrained_pairs", lambda base: make_run(base / "run")) / "run"


@pytest.fixture(scope="session")
def trained_pairs(shared_dir):
    """A pair model trained with the CLI for 2 steps (--seed 1, crop 32, ngf = ndf = 8) on three
    40x80 A|B pairs (write_ab_pairs: B is the colour-inverted A), built once per test run: its
    training directory."""
    def train(base):
        run_cli("--mode", "train", "--input_dir", write_ab_pairs(base / "ab", count=3), "--output_dir",
                base / "train", "--max_steps", 2, "--seed", 1, *TINY)

    return build_once(shared_dir, "trained_pairs", train) / "train"


@pytest.fixture(scope="session")
def exported_pairs(shared_dir, trained_pairs):
    """trained_pairs exported with the CLI, --format tflite (dropout off, the default): the SavedModel with
    model.tflite beside it, built once per test run (test_export reads the SavedModel, test_export_tflite
    the float32 model.tflite: one export and conversion, not one each): the export directory, alone in
    its parent (a staging directory left behind would show there)."""
    def export(base):
        result = run_cli("--mode", "export", "--checkpoint", trained_pairs, "--output_dir", base / "export",
                         "--format", "tflite")
        assert "exported" in result.stdout and "model.tflite (float32" in result.stdout, result.stdout

    return build_once(shared_dir, "exported_pairs", export) / "export"


@pytest.fixture(scope="session")
def trained_lab(shared_dir):
    """A --lab_colorization model trained with the CLI for 2 steps (--seed 1, crop 32, ngf = ndf = 8)
    on six 40x40 photos, built once per test run: its training directory."""
    def train(base):
        photos = base / "photos"
        photos.mkdir()
        rng = np.random.default_rng(3)
        for i in range(1, 7):
            write_image(photos / f"{i}.png", smooth_photo(rng, 40, 40))
        run_cli("--mode", "train", "--lab_colorization", "--input_dir", photos, "--output_dir", base / "train",
                "--max_steps", 2, "--seed", 1, *TINY)

    return build_once(shared_dir, "trained_lab", train) / "train"


@pytest.fixture(scope="session")
def mirrored_checks(shared_dir):
    """{check: its measured numbers} of tests/scripts/mirrored_checks.py: MirroredStrategy on two logical
    CPUs (simultaneous, bfloat16, sequential; {"error": traceback} for a check that raised), run once
    per test run for the three modules that assert on them (one process with the two devices, and one
    float32 step the bfloat16 check compares with); forked (helpers.run_script), as the fork server
    never starts TensorFlow's runtime and the script sets its devices up first."""
    def run(base):
        result = run_script(os.path.join(SCRIPTS, "mirrored_checks.py"), base / "checks.json")
        assert result.returncode == 0, result.stdout + result.stderr

    checks = json.loads((build_once(shared_dir, "mirrored_checks", run) / "checks.json").read_text())
    assert checks["replicas"] == 2, checks
    return checks


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


@pytest.fixture
def cli_in_process(monkeypatch):
    """run_cli for a command the command line alone refuses (exit 2 before any mode runs), answered
    in this process by the command's own main() (helpers.main_in_process), without a forked run's
    start and teardown. A command that gets past those checks fails the test instead of running here
    (one run_cli of the same kind proves the CLI end to end)."""
    from pix2pix.commands import main as command

    def past_the_checks(*_):
        raise AssertionError("the command got past the command line's checks: run it with run_cli")

    monkeypatch.setattr(command, "quiet_tensorflow", past_the_checks)  # the first step of a mode's run
    return lambda *args: main_in_process(command.main, ["pix2pix", *map(str, args)])
