"""pix2pix-prep --operation download_model, against PyTorch files served from 127.0.0.1.

The served file is a real torch.save file (the fixture written by the PyTorch repository's own
networks.py); helpers.ArchiveServer honours Range like the authors' server and can drop the
first connection half-way. No test touches the internet.
"""

import hashlib
import json
import os
import re

from helpers import REPO, ArchiveServer, run_cli
from data_prep import models

FIXTURE = os.path.join(REPO, "tests", "fixtures", "pytorch", "unet_legacy.pth")
PATH = "/facades_label2photo.pth"


def weights():
    with open(FIXTURE, "rb") as handle:
        return handle.read()


def run_download_model(output_dir, *more, name="facades_label2photo", check=False):
    return run_cli("--operation", "download_model", "--name", name, "--output_dir", output_dir, *more,
                   module="data_prep", check=check)


def error_lines(result):
    return [line for line in result.stderr.splitlines() if line.startswith("pix2pix-prep: error:")]


def assert_downloaded(models_dir, data, url):
    """MODELS/facades_label2photo.pth holds DATA, the .source.json its sha256; nothing else is there."""
    assert sorted(os.listdir(models_dir)) == ["facades_label2photo.pth", "facades_label2photo.source.json"]
    assert (models_dir / "facades_label2photo.pth").read_bytes() == data
    source = json.loads((models_dir / "facades_label2photo.source.json").read_text())
    assert source["sha256"] == hashlib.sha256(data).hexdigest() and source["bytes"] == len(data)
    assert source["url"] == url and source["model"] == "facades_label2photo"


def test_a_dropped_download_keeps_nothing_final_and_resumes_with_range(tmp_path):
    data = weights()
    models_dir = tmp_path / "models"
    with ArchiveServer({PATH: data}, drop_first=True) as server:
        url = server.url(PATH)
        first = run_download_model(models_dir, "--url", url)
        assert first.returncode == 1 and "Traceback" not in first.stderr
        [line] = error_lines(first)
        assert line.startswith("pix2pix-prep: error: download of %s stopped after %d of %d bytes ("
                               % (url, len(data) // 2, len(data)))
        assert line.endswith("run the same command again to resume")
        # the announced size was not reached: only the .part, no NAME.pth
        assert os.listdir(models_dir) == ["facades_label2photo.pth.part"]
        second = run_download_model(models_dir, "--url", url, check=True)
    assert server.requests == [(PATH, None), (PATH, "bytes=%d-" % (len(data) // 2))]
    assert "resuming at byte %d" % (len(data) // 2) in second.stderr
    assert "download_model: downloaded 1" in second.stdout
    assert_downloaded(models_dir, data, url)
    # the next step, printed for the user, carries the catalogue's direction
    assert ("next: pix2pix --mode import --checkpoint %s/facades_label2photo.pth --output_dir "
            "run_facades_label2photo --which_direction BtoA" % models_dir) in second.stderr


def test_a_file_that_is_not_a_pytorch_checkpoint_is_refused_and_nothing_is_written(tmp_path):
    page = b"<!DOCTYPE html><html><body>Not here</body></html>"
    models_dir = tmp_path / "models"
    with ArchiveServer({PATH: page}) as server:
        result = run_download_model(models_dir, "--url", server.url(PATH))
    assert result.returncode == 1
    assert error_lines(result) == ["pix2pix-prep: error: %s is not a PyTorch checkpoint (it starts with "
                                   "b'<!DO'); it was deleted" % server.url(PATH)]
    assert os.listdir(models_dir) == []


def test_a_failed_forced_download_leaves_the_existing_file_whole(tmp_path):
    data = weights()
    models_dir = tmp_path / "models"
    with ArchiveServer({PATH: data}) as server:
        run_download_model(models_dir, "--url", server.url(PATH), check=True)
        again = run_download_model(models_dir, "--url", server.url(PATH), check=True)
        assert "already exists: left alone" in again.stderr and "skipped 1" in again.stdout
        assert len(server.requests) == 1
    with ArchiveServer({PATH: data[:1000]}, drop_first=True) as server:
        result = run_download_model(models_dir, "--url", server.url(PATH), "--force")
    assert result.returncode == 1
    # the earlier whole file is untouched; the new bytes wait in the .part
    assert (models_dir / "facades_label2photo.pth").read_bytes() == data
    assert (models_dir / "facades_label2photo.pth.part").read_bytes() == data[:500]


def test_a_wrong_sha256_is_refused_and_the_right_one_accepted(tmp_path):
    data = weights()
    right = hashlib.sha256(data).hexdigest()
    wrong = hashlib.sha256(b"other weights").hexdigest()
    models_dir = tmp_path / "models"
    with ArchiveServer({PATH: data}) as server:
        url = server.url(PATH)
        result = run_download_model(models_dir, "--url", url, "--sha256", wrong)
        assert result.returncode == 1
        assert error_lines(result) == ["pix2pix-prep: error: the file from %s has sha256 %s, expected %s; it was "
                                       "deleted" % (url, right, wrong)]
        assert os.listdir(models_dir) == []
        run_download_model(models_dir, "--url", url, "--sha256", right.upper(), check=True)
    assert_downloaded(models_dir, data, url)


def test_unknown_name_and_foreign_flags_are_refused_with_nothing_written(tmp_path):
    result = run_download_model(tmp_path / "m", name="horse2zebra")
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert error_lines(result) == ["pix2pix-prep: error: --name must be one of facades_label2photo, sat2map, "
                                   "map2sat, edges2shoes, day2night, got 'horse2zebra'"]
    result = run_download_model(tmp_path / "m", "--dataset", "facades")
    assert error_lines(result) == ["pix2pix-prep: error: --dataset does not apply to --operation download_model"]
    result = run_cli("--operation", "download_model", "--output_dir", tmp_path / "m", module="data_prep",
                     check=False)
    assert result.returncode == 2 and "--name is required" in result.stderr
    assert not (tmp_path / "m").exists()
    listed = run_cli("--help", module="data_prep")
    assert "--operation download_model:" in listed.stdout and "edges2shoes" in listed.stdout


def test_the_catalogue_matches_the_authors_files_and_the_documentation():
    assert models.MODEL_NAMES == ("facades_label2photo", "sat2map", "map2sat", "edges2shoes", "day2night")
    assert models.DEFAULT_URL % "sat2map" == "https://efrosgans.eecs.berkeley.edu/pix2pix/models-pytorch/sat2map.pth"
    with open(os.path.join(REPO, "docs", "inference.md"), encoding="utf-8") as handle:
        docs = handle.read()
    section = docs[docs.index("## Published models"):]
    for model in models.CATALOGUE.values():
        row = re.search(r"^\| `%s` \| (\S+) \| (\w+) \|" % model.name, section, re.MULTILINE)
        assert row and row.groups() == (model.dataset, model.direction), model.name
        for line in models.command_lines(model.name):
            assert line in section, line


def test_a_downloaded_model_imports_with_the_catalogues_flags(tmp_path):
    """The chain the documentation gives: download_model, then --mode import with import_flags()."""
    models_dir = tmp_path / "models"
    with ArchiveServer({PATH: weights()}) as server:
        run_download_model(models_dir, "--url", server.url(PATH), check=True)
    run = tmp_path / "run_facades_label2photo"
    model = models.model_named("facades_label2photo")
    run_cli("--mode", "import", "--checkpoint", models_dir / "facades_label2photo.pth", "--output_dir", run,
            *model.import_flags())
    stored = json.loads((run / "options.json").read_text())
    assert stored["which_direction"] == "BtoA" and stored["netG"] == "unet_pytorch"
