"""Data beyond 8-bit RGB: image files read and written at their own depth and channel count.

Models of --input_nc/--output_nc channels, or trained on paired folders, read their data here
instead of as 8-bit RGB pictures (docs/channels.md):

    PNG          1, 3 or 4 channels, 8 or 16 bits (OpenCV, IMREAD_UNCHANGED; BGR(A) turned to RGB(A))
    TIFF         any channel count, 8 or 16 bits or float32 (tifffile)
    .npy         H x W x C (or H x W), uint8, uint16 or float32 (numpy, allow_pickle=False)
    JPEG, BMP, WebP, GIF   as OpenCV decodes them unchanged (8 bits)

Every file's height and width are read from its header and checked against --max_pixels before
anything is decoded (pix2pix.io.images for the picture formats, the .npy header here), and its
channel count too, so no decoder ever allocates for an image larger than the limit.

Samples map to the networks' [-1, 1] by their type's range (uint8: 0..255, uint16: 0..65535) or,
for float32, by a stated range (0..1 unless --value_range LOW,HIGH); `ValueMapping` does both
ways, so outputs are written back in the targets' type. No TensorFlow here.
"""

import dataclasses
import io
import os
import struct
from typing import Optional

import cv2
import numpy as np

from pix2pix.errors import Pix2PixError, error_line
from pix2pix.io import files as fileio
from pix2pix.io.images import ImageError, check_dimensions, check_file_size, read_file_bytes, truncation_problem
from pix2pix.io.listing import IMAGE_EXTENSIONS
from pix2pix.io.samples import SAMPLE_TYPES, TYPE_RANGES, ValueMapping

ARRAY_EXTENSIONS = IMAGE_EXTENSIONS + (".npy",)
MAX_CHANNELS = 1024  # the most channels a side may have (--input_nc, --output_nc)
PNG_CHANNELS = (1, 3, 4)

# PNG colour types (IHDR) -> the channels OpenCV's IMREAD_UNCHANGED gives
_PNG_COLOUR_CHANNELS = {0: 1, 2: 3, 3: 3, 4: 4, 6: 4}


@dataclasses.dataclass(frozen=True)
class Layout:
    """What a file holds, read from its header: height, width, channels and sample type."""

    height: int
    width: int
    channels: int
    sample_type: str

    def describe(self) -> str:
        return f"{self.channels} channel{'s' if self.channels != 1 else ''} of {self.sample_type}"


# ------------------------------------------------------------------ headers
def _sample_type(dtype) -> str:
    dtype = np.dtype(dtype)
    if dtype == np.float64:  # written by numpy and tifffile by default: read as float32
        return "float32"
    if dtype.name not in SAMPLE_TYPES:
        raise ImageError(f"samples of type {dtype.name}: only {', '.join(SAMPLE_TYPES)} are read")
    return dtype.name


def _npy_layout(handle) -> Layout:
    try:
        version = np.lib.format.read_magic(handle)
        reader = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
        shape, fortran_order, dtype = reader(handle, max_header_size=10000)
    except (ValueError, OSError, SyntaxError) as err:
        raise ImageError(f"not a readable .npy file ({err})") from None
    if dtype.hasobject:
        raise ImageError("a .npy file of Python objects (pickles are never loaded)")
    if len(shape) not in (2, 3):
        raise ImageError(f"a .npy array of shape {shape}: expected H x W or H x W x C")
    channels = shape[2] if len(shape) == 3 else 1
    return Layout(int(shape[0]), int(shape[1]), int(channels), _sample_type(dtype))


def _png_layout(data: bytes) -> Layout:
    if len(data) < 29 or data[12:16] != b"IHDR":
        raise ImageError("not a decodable image (no PNG header)")
    width, height, depth, colour = struct.unpack(">IIBB", data[16:26])
    if colour not in _PNG_COLOUR_CHANNELS:
        raise ImageError(f"a PNG of colour type {colour}, which no decoder reads")
    return Layout(height, width, _PNG_COLOUR_CHANNELS[colour], "uint16" if depth == 16 else "uint8")


def _tiff_series(path):
    import tifffile  # the one TIFF reader of data beyond 8-bit RGB (setup.py)

    with tifffile.TiffFile(path) as tiff:
        series = tiff.series[0]
        return tuple(series.shape), series.axes, series.dtype


def _tiff_layout(path) -> Layout:
    try:
        shape, axes, dtype = _tiff_series(path)
    except Exception as err:  # tifffile raises many kinds for a broken file  # noqa: BLE001
        raise ImageError(f"not a readable TIFF file ({error_line(err)})") from None
    if len(shape) == 2:
        return Layout(shape[0], shape[1], 1, _sample_type(dtype))
    if len(shape) != 3:
        raise ImageError(f"a TIFF of shape {shape} (axes {axes}): expected one image of H x W x C")
    if axes[-1] in "SC" or axes[0] not in "SCQIZ":  # samples last (contiguous)
        return Layout(shape[0], shape[1], shape[2], _sample_type(dtype))
    return Layout(shape[1], shape[2], shape[0], _sample_type(dtype))  # planes first: separate or pages


def read_layout(path: str, max_pixels: int) -> Layout:
    """The Layout of the file PATH from its header alone, after refusing one whose header claims
    more than MAX_PIXELS pixels (height x width) or more than MAX_CHANNELS channels. ImageError
    (one line) for anything unreadable."""
    extension = os.path.splitext(path)[1].lower()
    try:
        if extension == ".npy":
            with open(path, "rb") as handle:
                layout = _npy_layout(handle)
        elif extension in (".tif", ".tiff"):  # tifffile reads the headers of every sample layout (Pillow not all)
            layout = _tiff_layout(path)
        else:
            check_file_size(path, max_pixels)  # the picture formats' own header walk (pix2pix.io.images)
            with open(path, "rb") as handle:
                head = handle.read(32)
            if head.startswith(b"\x89PNG"):
                layout = _png_layout(head)
            else:  # JPEG, BMP, WebP, GIF: 8 bits; the channels OpenCV gives, decoded (size checked above)
                pixels = _decode_unchanged(read_file_bytes(path))
                layout = Layout(pixels.shape[0], pixels.shape[1], pixels.shape[2], _sample_type(pixels.dtype))
    except OSError as err:
        raise ImageError(f"cannot read file: {err.strerror or err}") from None
    check_dimensions(layout.width, layout.height, max_pixels, 1, claimed=True)
    if layout.channels > MAX_CHANNELS:
        raise ImageError(f"the file claims {layout.channels} channels, more than {MAX_CHANNELS}")
    return layout


# ------------------------------------------------------------------ reading
def _decode_unchanged(data: bytes) -> np.ndarray:
    problem = truncation_problem(data)
    if problem:
        raise ImageError(problem)
    try:
        pixels = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)
    except cv2.error as error:
        raise ImageError("not a decodable image (OpenCV: %s)" % str(error).strip().splitlines()[-1]) from None
    if pixels is None or pixels.size == 0:
        raise ImageError("not a decodable image")
    if pixels.ndim == 2:
        return pixels[:, :, np.newaxis]
    if pixels.shape[2] == 3:
        return cv2.cvtColor(pixels, cv2.COLOR_BGR2RGB)[:, :, :]
    if pixels.shape[2] == 4:
        return cv2.cvtColor(pixels, cv2.COLOR_BGRA2RGBA)
    return pixels


def read_array(path: str, max_pixels: int) -> np.ndarray:
    """The file PATH as an [H, W, C] array of uint8, uint16 or float32 at its own depth and channel
    count (read_layout checked first: nothing decoded over the limit). ImageError (one line)."""
    layout = read_layout(path, max_pixels)
    extension = os.path.splitext(path)[1].lower()
    try:
        if extension == ".npy":
            array = np.load(path, allow_pickle=False)
        elif extension in (".tif", ".tiff"):
            import tifffile

            array = tifffile.imread(path, series=0)
            if array.ndim == 3 and array.shape[:2] != (layout.height, layout.width):
                array = np.moveaxis(array, 0, -1)
        else:
            array = _decode_unchanged(read_file_bytes(path))
    except ImageError:
        raise
    except Exception as err:  # numpy and tifffile raise many kinds for a broken file  # noqa: BLE001
        raise ImageError(f"cannot read the data ({error_line(err)})") from None
    if array.ndim == 2:
        array = array[:, :, np.newaxis]
    if array.dtype == np.float64:
        array = array.astype(np.float32)
    if array.shape != (layout.height, layout.width, layout.channels):
        raise ImageError(f"the data has shape {array.shape}, not the {layout.height}x{layout.width}x"
                         f"{layout.channels} its header claims")
    return np.ascontiguousarray(array)


def check_layout(path: str, layout: Layout, channels: int, sample_type: Optional[str], side: str) -> None:
    """Pix2PixError naming PATH when its LAYOUT is not CHANNELS channels of SAMPLE_TYPE (None: any),
    what SIDE of the model (e.g. "input") expects."""
    if layout.channels != channels or (sample_type and layout.sample_type != sample_type):
        expected = f"{channels} channel{'s' if channels != 1 else ''}" + (f" of {sample_type}" if sample_type else "")
        raise Pix2PixError(f"{path}: holds {layout.describe()}; the model's {side} is {expected}")


# ------------------------------------------------------------------ writing
def output_extension(sample_type: str, channels: int) -> str:
    """.png for 8- and 16-bit data of 1, 3 or 4 channels, .tif otherwise (any channels, float32)."""
    return ".png" if sample_type in TYPE_RANGES and channels in PNG_CHANNELS else ".tif"


def encode_array(array: np.ndarray, extension: str) -> bytes:
    """[H, W, C] ARRAY as the bytes of a file of EXTENSION (.png, .tif/.tiff or .npy)."""
    if extension == ".npy":
        buffer = io.BytesIO()
        np.save(buffer, array, allow_pickle=False)
        return buffer.getvalue()
    if extension in (".tif", ".tiff"):
        import tifffile

        buffer = io.BytesIO()
        channels = array.shape[2]
        extra = {"extrasamples": ("unassalpha",)} if channels == 4 else {}
        # one page of H x W x C samples (metadata=None: not tifffile's shaped pages), grey as H x W
        tifffile.imwrite(buffer, array[:, :, 0] if channels == 1 else array, metadata=None, planarconfig="contig",
                         photometric="rgb" if channels in (3, 4) else "minisblack", **extra)
        return buffer.getvalue()
    if extension == ".png":
        if array.dtype.name not in TYPE_RANGES or array.shape[2] not in PNG_CHANNELS:
            raise ValueError(f"a PNG holds 1, 3 or 4 channels of uint8 or uint16, not {array.shape[2]} of "
                             f"{array.dtype.name}")
        pixels = array[:, :, 0] if array.shape[2] == 1 else cv2.cvtColor(
            array, cv2.COLOR_RGB2BGR if array.shape[2] == 3 else cv2.COLOR_RGBA2BGRA)
        ok, encoded = cv2.imencode(".png", pixels)
        if not ok:
            raise ValueError("OpenCV could not encode the PNG")
        return encoded.tobytes()
    raise ValueError(f"cannot write {extension} files (.png, .tif, .npy)")


def write_array(path: str, array: np.ndarray) -> None:
    """Atomically write the [H, W, C] ARRAY as PATH's extension says (encode_array)."""
    fileio.atomic_write_bytes(path, encode_array(array, os.path.splitext(path)[1].lower()))


def preview(array: np.ndarray, mapping: ValueMapping) -> np.ndarray:
    """An 8-bit RGB preview [H, W, 3] of ARRAY: its first three channels, or its first as grey."""
    values = (mapping.to_network(array) + 1.0) / 2.0
    values = values[:, :, :3] if values.shape[2] >= 3 else np.repeat(values[:, :, :1], 3, axis=2)
    return np.rint(np.clip(values, 0.0, 1.0) * 255.0).astype(np.uint8)
