"""The JavaScript runtime a `--format web` export runs its model with: onnxruntime-web from the npm
registry, one pinned version, checked by the sha512 the registry publishes for it.

    python -m data_prep --operation web_runtime     (data_prep/web_runtime.py: downloads it into the cache)
    pix2pix --mode export --format web              (serving/web_export.py: copies RUNTIME_FILES into the page)

Only the single-file wasm build is copied: ort.wasm.min.js (a classic script, the global `ort`), the
module it loads and its WebAssembly (SIMD, threads optional: run single-threaded it needs no
cross-origin isolation headers), and the package's package.json (its version and MIT licence).
Standard library only, so data_prep (which may use pix2pix.io) and export share it.
"""

import base64
import hashlib
import os
import tarfile

from pix2pix.errors import Pix2PixError, UsageError

PACKAGE = "onnxruntime-web"
VERSION = "1.31.1"
# The registry's dist.integrity of PACKAGE@VERSION (`npm view onnxruntime-web@1.31.1 dist.integrity`).
INTEGRITY = "sha512-5GeH+bWQ+HxM10z7erGlsWqryrwMbSvm/1tkIsKTT48g0fI19VXVVC435t4t7VsPdSQeS7NmuZPXrQ73k82URw=="
TARBALL = f"{PACKAGE}-{VERSION}.tgz"
REGISTRY_URL = f"https://registry.npmjs.org/{PACKAGE}/-/{TARBALL}"
# What the page needs, as named in the tarball (under package/); copied flat into the page's folder.
RUNTIME_FILES = ("dist/ort.wasm.min.js", "dist/ort-wasm-simd-threaded.mjs", "dist/ort-wasm-simd-threaded.wasm",
                 "package.json")
MAX_TARBALL_BYTES = 100 * 10**6  # 1.31.1 is 35 MB
CACHE_VARIABLE = "PIX2PIX_CACHE"
CHUNK_BYTES = 1 << 20


def cache_dir() -> str:
    """$PIX2PIX_CACHE, else $XDG_CACHE_HOME/pix2pix, else ~/.cache/pix2pix (not created here)."""
    if os.environ.get(CACHE_VARIABLE):
        return os.path.abspath(os.environ[CACHE_VARIABLE])
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(os.path.abspath(base), "pix2pix")


def cached_tarball() -> str:
    """Where the download keeps the pinned tarball: CACHE/onnxruntime-web-VERSION.tgz."""
    return os.path.join(cache_dir(), TARBALL)


def find_runtime(given=None) -> str:
    """GIVEN (--web_runtime), else the cached tarball; UsageError saying how to fetch it when neither is there."""
    if given:
        if not os.path.exists(given):
            raise UsageError(f"--web_runtime: no such file or folder: {given}")
        return given
    cached = cached_tarball()
    if not os.path.isfile(cached):
        raise UsageError(f"--format web needs {PACKAGE} {VERSION}, not in the cache ({cached}): run "
                         "`python -m data_prep --operation web_runtime` once (it downloads it from the npm "
                         "registry), or give --web_runtime PATH (its .tgz or a folder of its files)")
    return cached


def integrity_of(path: str) -> str:
    """The npm-style integrity string (sha512-BASE64) of the file at PATH."""
    digest = hashlib.sha512()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(CHUNK_BYTES), b""):
            digest.update(chunk)
    return "sha512-" + base64.b64encode(digest.digest()).decode("ascii")


def check_integrity(path: str, source: str) -> None:
    """Pix2PixError naming SOURCE unless the file at PATH is the pinned tarball, byte for byte."""
    found = integrity_of(path)
    if found != INTEGRITY:
        raise Pix2PixError(f"{source}: not {PACKAGE} {VERSION} as the npm registry publishes it "
                           f"(integrity {found[:24]}..., expected {INTEGRITY[:24]}...)")


def runtime_files(source: str) -> dict:
    """{file name: bytes} of RUNTIME_FILES from SOURCE: the pinned .tgz (its integrity checked) or a
    folder holding the files flat (an unpacked copy; its package.json must name VERSION).
    Pix2PixError (one line, naming SOURCE) when something is missing or is another version."""
    names = [os.path.basename(member) for member in RUNTIME_FILES]
    if os.path.isdir(source):
        missing = [name for name in names if not os.path.isfile(os.path.join(source, name))]
        if missing:
            raise Pix2PixError(f"{source}: no {', '.join(missing)} ({PACKAGE} {VERSION}'s files, "
                               f"or its {TARBALL}, are needed)")
        files = {}
        for name in names:
            with open(os.path.join(source, name), "rb") as handle:
                files[name] = handle.read()
    elif os.path.isfile(source):
        check_integrity(source, source)
        files = {}
        try:
            with tarfile.open(source, "r:gz") as archive:
                for member, name in zip(RUNTIME_FILES, names):
                    entry = archive.getmember("package/" + member)
                    if not entry.isfile():
                        raise KeyError(member)
                    files[name] = archive.extractfile(entry).read()
        except (KeyError, tarfile.TarError, OSError, EOFError) as err:
            raise Pix2PixError(f"{source}: cannot read {PACKAGE}'s files from it: {err}") from None
    else:
        raise Pix2PixError(f"{source}: no such file or folder ({PACKAGE} {VERSION}: its {TARBALL} or a "
                           "folder of its files)")
    if f'"version": "{VERSION}"' not in files["package.json"].decode("utf-8", "replace"):
        raise Pix2PixError(f"{source}: its package.json is not {PACKAGE} {VERSION}'s")
    return files
