"""notebooks/colorization.ipynb: committed clean, and it runs end to end, drawing its pictures.

The run uses a kernel on this very interpreter (sys.executable), whatever kernels the machine
has registered, with this checkout first on PYTHONPATH: the notebook is tested against the
code next to it, from a scratch working directory so nothing lands in the repository.
"""

import os
import re
import sys

import cv2
import nbformat
from jupyter_client.kernelspec import KernelSpec, KernelSpecManager
from jupyter_client.manager import AsyncKernelManager
from nbclient import NotebookClient
from traitlets import default

from helpers import REPO

NOTEBOOK = os.path.join(REPO, "notebooks", "colorization.ipynb")
CELL_TIMEOUT_SECONDS = 600  # a generous bound: the training cell takes seconds at the tiny settings
FIGURES = ("losses.png", "results.png", "new_photo.png")


class ThisInterpreterKernelSpecs(KernelSpecManager):
    """Every kernel name resolves to an IPython kernel run by sys.executable.

    A registered "python3" kernel may belong to another environment (a user-wide spec with
    an absolute interpreter path wins over the venv's); tests must run in this one.
    """

    def get_kernel_spec(self, kernel_name):
        return KernelSpec(argv=[sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
                          display_name=f"Python ({sys.executable})", language="python",
                          resource_dir="")


class ThisInterpreterKernelManager(AsyncKernelManager):
    """nbclient's default kernel manager, with kernel specs from ThisInterpreterKernelSpecs."""

    @default("kernel_spec_manager")
    def _default_kernel_spec_manager(self):
        return ThisInterpreterKernelSpecs(data_dir=self.data_dir)


def kernel_environment():
    """The test's environment, with this checkout importable first and the default plot backend."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([REPO] + [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p])
    env.pop("MPLBACKEND", None)  # let the kernel use its inline backend, as Jupyter does
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    return env


def _read_notebook():
    return nbformat.read(NOTEBOOK, as_version=4)


def _settings_cell(notebook):
    """The first code cell: every setting a user would raise for a real run."""
    return next(cell for cell in notebook.cells if cell.cell_type == "code")


def test_notebook_is_committed_valid_and_without_outputs():
    notebook = _read_notebook()
    nbformat.validate(notebook)
    code_cells = [cell for cell in notebook.cells if cell.cell_type == "code"]
    assert code_cells
    for cell in code_cells:
        assert cell.outputs == [], "clear the outputs before committing"
        assert cell.execution_count is None, "clear the execution counts before committing"
    assert notebook.metadata.kernelspec.name == "python3"


def test_notebook_says_what_to_raise_for_a_real_run():
    settings = "\n".join(cell.source for cell in _read_notebook().cells[:4])
    for words in ("GPU", "256", "64", "200"):
        assert words in settings, words


# The notebook's settings made tiny (as every CLI test trains): what is tested is that every cell
# runs and draws, not what 300 steps learn. Two chunks of one step each still resume once (two loss
# records); two crops per photo and batches of one keep data_prep, training and test mode short.
TINY_SETTINGS = {"CROP_SIZE": "32", "SCALE_SIZE": "36", "NGF = NDF": "8", "BATCH_SIZE": "1", "MAX_STEPS": "2",
                 "CHUNK_STEPS": "1", "CROPS_PER_IMAGE": "2"}


def with_settings(source: str, settings: dict) -> str:
    """SOURCE with the value of each `NAME = value  # comment` line in SETTINGS replaced."""
    lines = source.split("\n")
    for name, value in settings.items():
        [index] = [i for i, line in enumerate(lines) if line.startswith(name + " ")]
        comment = lines[index].partition("#")[2]
        lines[index] = f"{name} = {value}" + (f"  #{comment}" if comment else "")
    return "\n".join(lines)


def test_the_settings_cell_takes_the_tiny_settings():
    namespace = {}
    exec(with_settings(_settings_cell(_read_notebook()).source, TINY_SETTINGS), namespace)
    assert (namespace["CROP_SIZE"], namespace["NGF"], namespace["NDF"], namespace["MAX_STEPS"]) == (32, 8, 8, 2)
    assert (namespace["BATCH_SIZE"], namespace["CHUNK_STEPS"], namespace["CROPS_PER_IMAGE"]) == (1, 1, 2)


def test_notebook_runs_end_to_end(tmp_path):
    notebook = _read_notebook()
    settings = _settings_cell(notebook)
    settings.source = with_settings(settings.source, TINY_SETTINGS)
    client = NotebookClient(notebook, timeout=CELL_TIMEOUT_SECONDS, kernel_name="python3",
                            kernel_manager_class=ThisInterpreterKernelManager,
                            resources={"metadata": {"path": str(tmp_path)}})
    client.execute(env=kernel_environment())  # raises CellExecutionError, with the traceback, on failure

    outputs = [output for cell in notebook.cells if cell.cell_type == "code" for output in cell.outputs]
    assert not [o for o in outputs if o.output_type == "error"]
    # quiet: none of TensorFlow's C++ log lines (cuInit, Grappler's "remapper failed", oneDNN notices)
    streams = "".join(o.get("text", "") for o in outputs if o.output_type == "stream")
    assert not re.search(r"cuInit|remapper failed|absl::InitializeLog|^[IWE]\d{4} ", streams, re.M), streams
    shown = [o for o in outputs if o.output_type == "display_data" and "image/png" in o.get("data", {})]
    assert len(shown) >= len(FIGURES) + 1  # our three pictures and the training crops

    run = tmp_path / "colorization_run"
    for name in FIGURES:
        image = cv2.imread(str(run / "figures" / name))
        assert image is not None and min(image.shape[:2]) > 100, name
    assert (run / "test" / "index.html").is_file()
    assert (run / "export" / "saved_model.pb").is_file()

    # The new photo was colorized at its own size (every sample photo is larger than the crops).
    [grey_path] = (run / "new_photos").glob("*.png")
    grey, colorized = cv2.imread(str(grey_path)), cv2.imread(str(run / "infer" / grey_path.name))
    assert colorized is not None and colorized.shape == grey.shape and min(grey.shape[:2]) > 256
    assert (run / "infer" / "index.html").is_file()

    # One loss record per training chunk, steps increasing.
    from pix2pix.reporting.loss_history import read_loss_history
    steps = [record["step"] for record in read_loss_history(run / "train" / "losses.csv")]
    assert len(steps) >= 2 and steps == sorted(set(steps))
