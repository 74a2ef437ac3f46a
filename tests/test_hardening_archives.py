"""Downloads that try the machine: tar header records larger than any real one (a pax extended
header, a GNU long name), a `.part` replaced by a link, a server that drips, and download_model's
cap. Every archive is made here, a few KB; the refusing process's peak memory is measured.
"""

import gzip
import http.server
import os
import sys
import threading
import time

import pytest

from helpers import run_cli, run_measuring_peak
from data_prep import download, models
from data_prep.report import Reporter


def tar_header(name, size, typeflag):
    """One 512-byte ustar header block (checksum filled in)."""
    block = bytearray(512)
    block[0:len(name)] = name
    block[100:108] = b"0000644\0"
    block[108:116] = block[116:124] = b"0000000\0"
    block[124:136] = b"%011o\0" % size
    block[136:148] = b"00000000000\0"
    block[156:157] = typeflag
    block[257:265] = b"ustar\x0000"
    block[148:156] = b" " * 8
    block[148:156] = b"%06o\0 " % sum(block)
    return bytes(block)


def record_bomb(path, typeflag, claimed=1_500_000_256, present=1 << 20):
    """A .tar.gz whose first member is a header record (pax 'x', GNU long name 'L') claiming
    CLAIMED bytes, PRESENT of them there (zeros: they compress to almost nothing)."""
    name = b"././@LongLink" if typeflag == b"L" else b"./PaxHeaders/x"
    with gzip.open(path, "wb", compresslevel=1) as archive:
        archive.write(tar_header(name, claimed, typeflag))
        archive.write(bytes(present))
    return path


EXTRACT = """import sys
from data_prep.download import DownloadError, extract_safely
try:
    extract_safely(sys.argv[1], sys.argv[2], "the test")
except DownloadError as err:
    print(err)
"""


@pytest.mark.parametrize("typeflag, kind", [(b"x", "pax"), (b"L", "GNU long name")])
def test_a_huge_header_record_is_refused_by_its_size_before_tarfile_reads_it(tmp_path, typeflag, kind):
    archive = record_bomb(tmp_path / "bomb.tar.gz", typeflag, present=64 << 20)  # 64 MB really there
    assert os.path.getsize(archive) < 1 << 20
    (tmp_path / "out").mkdir()
    result, peak = run_measuring_peak([sys.executable, "-c", EXTRACT, archive, tmp_path / "out"], tmp_path)
    assert result.stdout.strip() == ("refused the archive from the test: a tar header record (pax or GNU long "
                                     "name) of 1500000256 bytes, more than the 1048576 any real archive needs"), \
        result.stdout + result.stderr
    assert os.listdir(tmp_path / "out") == []
    print(f"{kind} record of 1.5 GB refused; peak {peak:.0f} MB")
    assert peak < 300, peak


def test_the_cli_refuses_a_pax_bomb_under_the_smallest_caps(tmp_path):
    archive = record_bomb(tmp_path / "facades.tar.gz", b"x")
    datasets = tmp_path / "datasets"
    result = run_cli("--operation", "download", "--dataset", "facades", "--output_dir", datasets, "--url", archive,
                     "--max_extracted_mb", 1, "--max_download_mb", 2, "--max_files", 10, module="data_prep",
                     check=False)
    assert result.returncode == 1 and "Traceback" not in result.stderr, result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("pix2pix-prep: error:")]
    assert len(errors) == 1 and "a tar header record (pax or GNU long name) of 1500000256 bytes" in errors[0]
    assert os.listdir(datasets) == []


def test_ordinary_pax_and_long_names_still_extract(tmp_path):
    import io
    import tarfile
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz", format=tarfile.PAX_FORMAT) as tar:
        info = tarfile.TarInfo("facades/train/" + "long" * 40 + "é.jpg")
        info.size = 3
        tar.addfile(info, io.BytesIO(b"abc"))
    with tarfile.open(fileobj=io.BytesIO(buffer.getvalue()), mode="r:gz") as tar:
        assert any(member.isfile() for member in tar)
    for format_ in (tarfile.PAX_FORMAT, tarfile.GNU_FORMAT):
        buffer = io.BytesIO()
        with tarfile.open(fileobj=buffer, mode="w:gz", format=format_) as tar:
            info = tarfile.TarInfo("facades/train/" + "long" * 40 + ".jpg")
            info.size = 3
            tar.addfile(info, io.BytesIO(b"abc"))
        archive = tmp_path / f"{format_}.tar.gz"
        archive.write_bytes(buffer.getvalue())
        out = tmp_path / f"out{format_}"
        out.mkdir()
        assert download.extract_safely(str(archive), str(out), "the test") == 1
        assert (out / "facades" / "train" / ("long" * 40 + ".jpg")).read_bytes() == b"abc"


def test_a_part_file_that_is_a_link_is_never_written_through(tmp_path):
    victim = tmp_path / "victim.txt"
    victim.write_text("keep me")
    source = tmp_path / "facades.tar.gz"
    source.write_bytes(b"x" * 1000)
    datasets = tmp_path / "datasets"
    datasets.mkdir()
    (datasets / "facades.tar.gz.part").symlink_to(victim)
    with pytest.raises(download.DownloadError, match=r"facades\.tar\.gz\.part is a symbolic link; a download "
                                                     r"never writes through one"):
        download.download_dataset("facades", str(datasets), url=str(source), reporter=Reporter())
    assert victim.read_text() == "keep me"
    # a link planted between the check and the open is not followed either (O_NOFOLLOW)
    with pytest.raises(download.DownloadError, match="cannot write .*part"):
        download._open_part(str(datasets / "facades.tar.gz.part"), append=True)
    assert victim.read_text() == "keep me"


def test_download_model_names_no_flag_it_refuses(tmp_path):
    """Its cap is fixed: the message must not advise --max_download_mb, which download_model refuses."""
    big = tmp_path / "big.pth"
    with open(big, "wb") as handle:
        handle.truncate(models.MAX_MODEL_BYTES + 1)  # sparse: nothing written
    with pytest.raises(download.DownloadError) as error:
        models.download_model("facades_label2photo", str(tmp_path / "out"), url=str(big), reporter=Reporter())
    assert "larger than the 1000 MB this download may take" in str(error.value)
    assert "--max_download_mb" not in str(error.value)
    result = run_cli("--operation", "download_model", "--name", "facades_label2photo", "--output_dir",
                     tmp_path / "out", "--max_download_mb", 5, module="data_prep", check=False)
    assert "--max_download_mb does not apply to --operation download_model" in result.stderr


class Drip:
    """A server that announces 1000 bytes and sends one every 0.2 s."""

    def __enter__(self):
        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_GET(self):
                self.send_response(200)
                self.send_header("Content-Length", "1000")
                self.end_headers()
                try:
                    for _ in range(1000):
                        self.wfile.write(b"x")
                        self.wfile.flush()
                        time.sleep(0.2)
                except OSError:
                    pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()
        return "http://127.0.0.1:%d/facades.tar.gz" % self.httpd.server_address[1]

    def __exit__(self, *exc):
        self.httpd.shutdown()
        self.httpd.server_close()


def test_a_dripping_server_is_stopped_at_the_download_deadline(tmp_path):
    datasets = tmp_path / "datasets"
    with Drip() as url:
        started = time.monotonic()
        with pytest.raises(download.DownloadError, match=r"took more than --max_download_seconds 1; stopped "
                                                         r"after \d+ bytes, which .*part keeps"):
            download.download_dataset("facades", str(datasets), url=url, reporter=Reporter(),
                                      limits=download.Limits(max_seconds=1))
        assert time.monotonic() - started < 60  # the server would drip for 200 s
    assert os.listdir(datasets) == ["facades.tar.gz.part"]  # kept for resuming
    with pytest.raises(download.UsageError, match="--max_download_seconds must be 0"):
        download.download_dataset("facades", str(datasets), url=url, limits=download.Limits(max_seconds=-1))
