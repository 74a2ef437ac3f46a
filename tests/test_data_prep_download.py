"""pix2pix-prep --operation download, against archives made here and served from 127.0.0.1.

The server (helpers.ArchiveServer, a thread with http.server) honours Range requests like the authors' Apache does, and
can misbehave on purpose: drop the connection half-way through the first download, or ignore
Range and answer 200. No test touches the internet.
"""

import hashlib
import io
import json
import os
import signal
import socket
import subprocess
import sys
import tarfile

import cv2
import numpy as np
import pytest

from helpers import ENDLESS_PATH, REPO, ArchiveServer, cli_env, default_sigint, run_cli, smooth_photo, wait_until
from data_prep import download
from data_prep.report import Reporter


# --- archives ------------------------------------------------------------------------------------

def ab_jpeg(seed):
    """A real 32x64 A|B pair as JPEG bytes (B is the colour-inverted A)."""
    a = smooth_photo(np.random.default_rng(seed), 32, 32)
    ok, encoded = cv2.imencode(".jpg", np.concatenate([a, 255 - a], axis=1)[:, :, ::-1])
    assert ok
    return encoded.tobytes()


def dataset_files(name="facades"):
    """{archive path: bytes}: NAME/train/1-3.jpg and NAME/val/1.jpg, as the authors' archives hold them."""
    return {"%s/train/%d.jpg" % (name, i): ab_jpeg(i) for i in (1, 2, 3)} | {"%s/val/1.jpg" % name: ab_jpeg(9)}


def tar_gz(files, extra=()):
    """A .tar.gz with ``files`` ({name: bytes}, folders added as members too) then the ``extra`` TarInfos."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        folders = sorted({os.path.dirname(name) for name in files} | {name.split("/")[0] for name in files})
        for folder in folders:
            info = tarfile.TarInfo(folder)
            info.type, info.mode = tarfile.DIRTYPE, 0o755
            tar.addfile(info)
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
        for info in extra:
            tar.addfile(info, io.BytesIO(b"x" * info.size) if info.isfile() else None)
    return buffer.getvalue()


def member(name, kind=tarfile.REGTYPE, linkname="", size=1):
    info = tarfile.TarInfo(name)
    info.type, info.linkname = kind, linkname
    info.size = size if kind == tarfile.REGTYPE else 0
    return info


def run_download(datasets, url, *more, check=False):
    return run_cli("--operation", "download", "--dataset", "facades", "--output_dir", datasets, "--url", url,
                   *more, module="data_prep", check=check)


def error_lines(result):
    return [line for line in result.stderr.splitlines() if line.startswith("pix2pix-prep: error:")]


def assert_dataset_extracted(datasets, files, archive):
    """DATASETS/facades holds exactly the archive's files, SOURCE.json its sha256; nothing else is left."""
    root = datasets / "facades"
    for name, data in files.items():
        assert (datasets / name).read_bytes() == data
    assert sorted(os.listdir(root)) == ["SOURCE.json", "train", "val"]
    source = json.loads((root / "SOURCE.json").read_text())
    assert source["sha256"] == hashlib.sha256(archive).hexdigest()
    assert source["bytes"] == len(archive) and source["files"] == len(files)
    assert source["splits"] == {"train": 3, "val": 1} and source["dataset"] == "facades"
    assert os.listdir(datasets) == ["facades"]  # no .part, no hidden temporary folder
    return source


# --- tests ---------------------------------------------------------------------------------------

def test_download_extracts_the_splits_and_records_the_source(tmp_path):
    files = dataset_files()
    archive = tar_gz(files)
    datasets = tmp_path / "datasets"
    with ArchiveServer({"/facades.tar.gz": archive}) as server:
        result = run_download(datasets, server.url("/facades.tar.gz"), check=True)
    assert "pix2pix-prep: download: downloaded 1 (4 files), skipped 0, failed 0" in result.stdout
    source = assert_dataset_extracted(datasets, files, archive)
    assert source["url"] == server.url("/facades.tar.gz")
    assert "facades: 4 files (train 3, val 1) in %s" % (datasets / "facades") in result.stderr
    assert server.requests == [("/facades.tar.gz", None)]


def test_a_dropped_connection_is_resumed_with_a_range_request(tmp_path):
    files = dataset_files()
    archive = tar_gz(files)
    datasets = tmp_path / "datasets"
    with ArchiveServer({"/facades.tar.gz": archive}, drop_first=True) as server:
        url = server.url("/facades.tar.gz")
        first = run_download(datasets, url)
        assert first.returncode == 1 and "Traceback" not in first.stderr
        assert error_lines(first) == ["pix2pix-prep: error: download of %s stopped after %d of %d bytes (the "
                                      "connection closed early); run the same command again to resume"
                                      % (url, len(archive) // 2, len(archive))]
        assert os.listdir(datasets) == ["facades.tar.gz.part"]  # nothing but the resumable .part
        assert (datasets / "facades.tar.gz.part").read_bytes() == archive[:len(archive) // 2]

        second = run_download(datasets, url, check=True)
    assert server.requests == [("/facades.tar.gz", None), ("/facades.tar.gz", "bytes=%d-" % (len(archive) // 2))]
    assert "resuming at byte %d" % (len(archive) // 2) in second.stderr
    assert_dataset_extracted(datasets, files, archive)


def test_ctrl_c_keeps_the_part_and_the_next_run_resumes(tmp_path):
    files = dataset_files()
    archive = tar_gz(files)
    datasets = tmp_path / "datasets"
    part = datasets / "facades.tar.gz.part"
    with ArchiveServer({"/facades.tar.gz": archive}, stall_first=True) as server:
        url = server.url("/facades.tar.gz")
        process = subprocess.Popen(
            [sys.executable, "-m", "data_prep", "--operation", "download", "--dataset", "facades",
             "--output_dir", str(datasets), "--url", url],
            env=cli_env(), cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
            preexec_fn=default_sigint)
        wait_until(lambda: part.exists() and part.stat().st_size == len(archive) // 2,
                   "half the archive received (the rest stalls)", timeout=60)
        process.send_signal(signal.SIGINT)
        _, stderr = process.communicate(timeout=60)
        assert process.returncode == 130, stderr
        assert "stopped: %s keeps the %d bytes received; run the same command again to resume" % (
            part, len(archive) // 2) in stderr
        assert "pix2pix-prep: interrupted" in stderr and "Traceback" not in stderr
        assert os.listdir(datasets) == ["facades.tar.gz.part"]
        run_download(datasets, url, check=True)
    assert server.requests[-1] == ("/facades.tar.gz", "bytes=%d-" % (len(archive) // 2))
    assert_dataset_extracted(datasets, files, archive)


def test_progress_of_a_download_is_shown_in_megabytes():
    class Terminal(io.StringIO):
        def isatty(self):
            return True

    stream = Terminal()
    reporter = Reporter(stream=stream)
    reporter.start(10_000_000, unit="bytes", done=2_000_000)  # resumed at 2 MB
    reporter.started -= 2.0  # as if 2 s had passed since the start and the last redraw
    reporter.last_drawn -= 2.0
    reporter.advance(1_000_000)
    assert "] 3.0/10.0 MB  0.5 MB/s  ~14s left" in stream.getvalue()  # rate: this run's 1 MB in 2 s


def test_a_server_that_ignores_range_is_downloaded_again_from_the_start(tmp_path):
    files = dataset_files()
    archive = tar_gz(files)
    datasets = tmp_path / "datasets"
    datasets.mkdir()
    (datasets / "facades.tar.gz.part").write_bytes(b"stale bytes of some other download")
    with ArchiveServer({"/facades.tar.gz": archive}, honour_range=False) as server:
        result = run_download(datasets, server.url("/facades.tar.gz"), check=True)
    assert server.requests == [("/facades.tar.gz", "bytes=34-")]
    assert "does not resume downloads (it answered 200" in result.stderr
    assert_dataset_extracted(datasets, files, archive)


def test_a_complete_part_is_extracted_without_downloading_again(tmp_path):
    files = dataset_files()
    archive = tar_gz(files)
    datasets = tmp_path / "datasets"
    datasets.mkdir()
    (datasets / "facades.tar.gz.part").write_bytes(archive)
    with ArchiveServer({"/facades.tar.gz": archive}) as server:
        run_download(datasets, server.url("/facades.tar.gz"), check=True)
    assert server.requests == [("/facades.tar.gz", "bytes=%d-" % len(archive))]  # answered 416, nothing sent
    assert_dataset_extracted(datasets, files, archive)


def test_a_local_copy_is_accepted_as_url(tmp_path):
    files = dataset_files()
    archive = tar_gz(files)
    local = tmp_path / "mirror" / "facades.tar.gz"
    local.parent.mkdir()
    local.write_bytes(archive)
    datasets = tmp_path / "datasets"
    run_download(datasets, local, check=True)
    source = assert_dataset_extracted(datasets, files, archive)
    assert source["url"] == local.as_uri()


def test_a_malicious_archive_is_refused_by_name_and_nothing_is_written(tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    absolute_target = outside / "absolute.txt"
    archive = tar_gz(dataset_files(), extra=[
        member("../evil"),
        member(str(absolute_target)),
        member("facades/etc", tarfile.SYMTYPE, linkname="/etc"),
        member("facades/train/up", tarfile.SYMTYPE, linkname="../../../outside"),
        member("facades/val/passwd", tarfile.LNKTYPE, linkname="../../etc/passwd"),
        member("facades/null", tarfile.CHRTYPE),
        member("facades/pipe", tarfile.FIFOTYPE),
    ])
    datasets = tmp_path / "datasets"
    with ArchiveServer({"/facades.tar.gz": archive}) as server:
        url = server.url("/facades.tar.gz")
        result = run_download(datasets, url)
    assert result.returncode == 1 and "Traceback" not in result.stderr
    lines = error_lines(result)
    assert len(lines) == 1, result.stderr
    line = lines[0]
    assert line.startswith("pix2pix-prep: error: refused the archive from %s: 7 unsafe members: " % url)
    for words in ("../evil ('..' in the path)", "%s (absolute path)" % absolute_target,
                  "facades/etc (symlink to /etc, outside the folder)",
                  "facades/train/up (symlink to ../../../outside leaves the folder)"):
        assert words in line
    assert "and 2 more; nothing was extracted" in line
    assert os.listdir(datasets) == []  # no dataset, no temporary folder, no archive
    assert os.listdir(outside) == [] and not (tmp_path / "evil").exists()


def test_unsafe_members_are_recognised(tmp_path):
    assert download.member_problem(member("facades/train/1.jpg")) is None
    assert download.member_problem(member("facades/train/link", tarfile.SYMTYPE, linkname="../val/1.jpg")) is None
    assert download.member_problem(member("facades/a/../../b")) == "'..' in the path"
    assert download.member_problem(member("C:/Windows/x")) == "absolute path"
    assert download.member_problem(member("facades/dev", tarfile.BLKTYPE)) == "device file"
    assert download.member_problem(member("facades/x", tarfile.LNKTYPE, linkname="/etc/passwd")) == (
        "hard link to /etc/passwd leaves the folder")
    # a chain of links that only the extraction filter can see through: s1 -> ".", s2 -> "s1/.."
    archive = tmp_path / "chain.tar.gz"
    archive.write_bytes(tar_gz({"facades/train/1.jpg": ab_jpeg(1)}, extra=[
        member("facades/s1", tarfile.SYMTYPE, linkname="."),
        member("facades/s2", tarfile.SYMTYPE, linkname="s1/../.."),
        member("facades/s2/escaped"),
    ]))
    folder = tmp_path / "folder"
    folder.mkdir()
    with pytest.raises(download.UnsafeArchiveError):
        download.extract_safely(str(archive), str(folder), "chain.tar.gz")
    assert not (tmp_path / "escaped").exists()


def test_http_404_and_an_unreachable_server_give_one_line_and_leave_nothing(tmp_path):
    datasets = tmp_path / "datasets"
    with ArchiveServer({}) as server:
        url = server.url("/facades.tar.gz")
        result = run_download(datasets, url)
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == ["pix2pix-prep: error: cannot download %s: HTTP 404 Not Found" % url]
    assert not datasets.exists()

    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    url = "http://127.0.0.1:%d/facades.tar.gz" % port
    result = run_download(datasets, url)
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == ["pix2pix-prep: error: cannot download %s: Connection refused" % url]
    assert not datasets.exists()


def test_an_existing_dataset_is_left_alone_unless_force(tmp_path):
    files = dataset_files()
    archive = tar_gz(files)
    datasets = tmp_path / "datasets"
    (datasets / "facades").mkdir(parents=True)
    (datasets / "facades" / "mine.txt").write_text("keep me")
    with ArchiveServer({"/facades.tar.gz": archive}) as server:
        url = server.url("/facades.tar.gz")
        kept = run_download(datasets, url, check=True)
        assert "already exists: left alone (--force downloads facades again and replaces it)" in kept.stderr
        assert "skipped 1" in kept.stdout
        assert server.requests == []
        assert (datasets / "facades" / "mine.txt").read_text() == "keep me"

        run_download(datasets, url, "--force", check=True)
    assert not (datasets / "facades" / "mine.txt").exists()
    assert_dataset_extracted(datasets, files, archive)


def test_download_flags_are_checked(tmp_path):
    result = run_cli("--operation", "download", "--output_dir", tmp_path / "d", module="data_prep", check=False)
    assert result.returncode == 2 and "--dataset is required for --operation download" in result.stderr
    result = run_cli("--operation", "download", "--dataset", "cityscapes", "--output_dir", tmp_path / "d",
                     module="data_prep", check=False)
    assert result.returncode == 2 and "--dataset" in result.stderr and "Traceback" not in result.stderr
    result = run_cli("--operation", "download", "--dataset", "maps", "--output_dir", tmp_path / "d",
                     "--overwrite", module="data_prep", check=False)
    assert result.returncode == 2 and "--overwrite does not apply to --operation download" in result.stderr
    assert not (tmp_path / "d").exists()


# --- hardening: top-level links, caps, pinned sha256 -----------------------------------------------

def assert_refused(result, line):
    """Exit status 1, no traceback, and LINE (after "pix2pix-prep: error: ") as the only error line."""
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert error_lines(result) == ["pix2pix-prep: error: " + line], result.stderr


def test_an_archive_whose_top_level_entry_is_a_link_is_refused_and_nothing_is_touched(tmp_path):
    """facades -> . with the files beside it: once moved into place the dataset would be a link to
    nowhere. It is refused; the existing dataset (--force) and the folder's other files stay."""
    archive = tar_gz({"train/1.jpg": ab_jpeg(1), "val/1.jpg": ab_jpeg(2)},
                     extra=[member("facades", tarfile.SYMTYPE, linkname=".")])
    datasets = tmp_path / "datasets"
    (datasets / "facades").mkdir(parents=True)
    (datasets / "facades" / "mine.txt").write_text("keep me")
    (datasets / "notes.txt").write_text("mine too")
    with ArchiveServer({"/facades.tar.gz": archive}) as server:
        url = server.url("/facades.tar.gz")
        result = run_download(datasets, url, "--force")
    assert_refused(result, "refused the archive from %s: 1 unsafe member: facades "
                           "(link at the top level of the archive); nothing was extracted" % url)
    assert sorted(os.listdir(datasets)) == ["facades", "notes.txt"]
    assert not os.path.islink(datasets / "facades")
    assert os.listdir(datasets / "facades") == ["mine.txt"]
    assert (datasets / "facades" / "mine.txt").read_text() == "keep me"
    assert (datasets / "notes.txt").read_text() == "mine too"
    assert download.member_problem(member("./facades", tarfile.LNKTYPE, linkname="x")) == (
        "link at the top level of the archive")


def test_an_announced_size_over_the_download_cap_is_refused_before_anything_is_written(tmp_path):
    files = dataset_files()
    archive = tar_gz(files)
    datasets = tmp_path / "datasets"
    with ArchiveServer({"/facades.tar.gz": archive}) as server:
        url = server.url("/facades.tar.gz")
        result = run_download(datasets, url, "--max_download_mb", "0.001")
    assert_refused(result, "the archive from %s is larger than --max_download_mb 0.001 "
                           "(%d bytes); nothing was kept (raise --max_download_mb if it should be that "
                           "large)" % (url, len(archive)))
    assert not datasets.exists() or os.listdir(datasets) == []


def test_an_endless_body_stops_at_the_download_cap(tmp_path):
    datasets = tmp_path / "datasets"
    with ArchiveServer({}) as server:
        url = server.url(ENDLESS_PATH)
        result = run_download(datasets, url, "--max_download_mb", "1")
    assert result.returncode == 1 and "Traceback" not in result.stderr
    lines = error_lines(result)
    assert len(lines) == 1 and lines[0].startswith(
        "pix2pix-prep: error: the archive from %s is larger than --max_download_mb 1 (" % url), result.stderr
    assert os.listdir(datasets) == []  # the .part went too


def test_an_archive_that_unpacks_past_the_extracted_cap_is_refused(tmp_path):
    zeros = {"facades/train/%d.jpg" % i: b"\0" * 600_000 for i in range(4)}  # 2.4 MB, a few KB gzipped
    archive = tar_gz(zeros)
    assert len(archive) < 100_000
    datasets = tmp_path / "datasets"
    with ArchiveServer({"/facades.tar.gz": archive}) as server:
        url = server.url("/facades.tar.gz")
        result = run_download(datasets, url, "--max_extracted_mb", "1")
    assert_refused(result, "refused the archive from %s: it unpacks to more than "
                           "--max_extracted_mb 1; extraction stopped (raise --max_extracted_mb if it "
                           "should be that large)" % url)
    assert os.listdir(datasets) == []


def test_an_archive_with_more_entries_than_the_file_cap_is_refused(tmp_path):
    archive = tar_gz(dataset_files())  # 3 folders and 4 files
    datasets = tmp_path / "datasets"
    with ArchiveServer({"/facades.tar.gz": archive}) as server:
        url = server.url("/facades.tar.gz")
        result = run_download(datasets, url, "--max_files", "5")
        assert_refused(result, "refused the archive from %s: more than --max_files 5 "
                               "entries; extraction stopped (raise --max_files if it should hold that "
                               "many)" % url)
        assert os.listdir(datasets) == []
        run_download(datasets, url, "--max_files", "7", check=True)  # exactly 7 entries: accepted
    assert os.listdir(datasets) == ["facades"]


def test_a_wrong_sha256_is_refused_and_the_right_one_accepted(tmp_path):
    files = dataset_files()
    archive = tar_gz(files)
    right = hashlib.sha256(archive).hexdigest()
    wrong = hashlib.sha256(b"another archive").hexdigest()
    datasets = tmp_path / "datasets"
    with ArchiveServer({"/facades.tar.gz": archive}) as server:
        url = server.url("/facades.tar.gz")
        result = run_download(datasets, url, "--sha256", wrong)
        assert_refused(result, "the archive from %s has sha256 %s, expected %s; it was "
                               "deleted and nothing was extracted" % (url, right, wrong))
        assert os.listdir(datasets) == []
        run_download(datasets, url, "--sha256", right.upper(), check=True)
    assert_dataset_extracted(datasets, files, archive)


def test_bad_sha256_and_cap_values_are_flag_errors(tmp_path):
    for flag, value, words in (("--sha256", "abc", "--sha256: expected 64 hexadecimal digits, got 'abc'"),
                               ("--max_files", "0", "--max_files must be positive, got 0"),
                               ("--max_extracted_mb", "-1", "--max_extracted_mb must be positive")):
        result = run_download(tmp_path / "d", "http://127.0.0.1:9/facades.tar.gz", flag, value)
        assert result.returncode == 2 and words in result.stderr and "Traceback" not in result.stderr
    assert not (tmp_path / "d").exists()


def test_the_default_caps_admit_the_largest_dataset_and_the_default_url_is_https():
    # edges2handbags.tar.gz is 8.0 GB on the authors' server, about 138,800 files
    limits = download.Limits()
    assert limits.max_download_bytes > 8.0e9 and limits.max_extracted_bytes > 2 * 8.0e9
    assert limits.max_files > 140_000
    assert download.source_url("edges2handbags").startswith("https://efrosgans.eecs.berkeley.edu/")
