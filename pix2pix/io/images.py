"""Safe image reading and atomic image writing.

Reading always yields an RGB ``uint8`` array of shape (height, width, 3):
EXIF orientation applied, 16-bit and float samples scaled to 8 bits, grey and
palette images expanded to RGB, alpha dropped. Before any pixel is decoded the
header is read (check_image_size) to refuse decompression bombs and tiny images, and PNG / JPEG
files are checked for truncation, so a bad file fails with a one-line reason
(``ImageError``) instead of an OpenCV warning or a half-grey image.
"""

import io
import os
import struct

import cv2
import numpy as np
from PIL import Image

from pix2pix.errors import Pix2PixError
from pix2pix.io import files as fileio
from pix2pix.io import jpeg
from pix2pix.io.listing import IMAGE_EXTENSIONS as SUPPORTED_EXTENSIONS  # the project's one list
from pix2pix.io.listing import has_image_extension as has_supported_extension

OUTPUT_FORMATS = ("png", "jpg")

DEFAULT_MAX_PIXELS = 100_000_000
DEFAULT_JPEG_QUALITY = 95

# OpenCV >= 4.11 can decode straight to RGB; older versions decode to BGR.
_IMREAD_RGB = getattr(cv2, "IMREAD_COLOR_RGB", None)
# Colour + keep 16-bit/float depth (converted below). Unlike IMREAD_UNCHANGED
# this applies the EXIF orientation and always gives 3 channels (grey and
# palette expanded, alpha dropped).
_IMREAD_FLAGS = (_IMREAD_RGB if _IMREAD_RGB is not None else cv2.IMREAD_COLOR) | cv2.IMREAD_ANYDEPTH


class ImageError(Exception):
    """A file that cannot be turned into an image; the message says why, in one line."""


# --- the size of an image, read from its header -----------------------------
#
# Pillow reads only the header when it opens a file (pixels are decoded on .load(), which is
# never called here), for every format the decoders accept: PNG, JPEG (baseline, progressive,
# with junk bytes between segments, as libjpeg tolerates), GIF (the logical screen and, for an
# animated one, its frame count), BMP, WebP, TIFF. The decoding itself stays with OpenCV
# (data_prep) and TensorFlow (infer, serve, the SavedModel): Pillow only answers "how large?".
# A file whose size cannot be read is refused: it never reaches a decoder unchecked.

# Pillow's own decompression-bomb guard (Image.MAX_IMAGE_PIXELS) is switched off: Pillow
# decodes nothing here, the limit is --max_pixels (checked below, before any decoder runs), and
# the guard would refuse sizes a user's --max_pixels allows (over ~179 MP) while hiding the
# claimed width and height our refusal names. Nothing else in pix2pix opens images with Pillow.
Image.MAX_IMAGE_PIXELS = None


def _tiff_dimensions(data):
    """ImageWidth / ImageLength tags of the first IFD (classic TIFF)."""
    byte_order = "<" if data[:2] == b"II" else ">"
    try:
        (ifd_offset,) = struct.unpack(byte_order + "I", data[4:8])
        (entry_count,) = struct.unpack(byte_order + "H", data[ifd_offset:ifd_offset + 2])
        sizes = {}
        for index in range(entry_count):
            entry = ifd_offset + 2 + 12 * index
            tag, field_type = struct.unpack(byte_order + "HH", data[entry:entry + 4])
            if tag in (256, 257):
                code = "H" if field_type == 3 else "I"
                (sizes[tag],) = struct.unpack(byte_order + code, data[entry + 8:entry + 8 + struct.calcsize(code)])
        if 256 in sizes and 257 in sizes:
            return sizes[256], sizes[257]
    except struct.error:
        pass
    return None


def _plain_header_dimensions(data):
    """(width, height) from a header whose fields sit at fixed places, for files Pillow will not
    open but a decoder might still try: a PNG cut short after its IHDR chunk (Pillow reads on to
    the next chunk), a TIFF sample layout Pillow lacks (32-bit float RGB). None otherwise."""
    if data.startswith(b"\x89PNG\r\n\x1a\n") and data[12:16] == b"IHDR" and len(data) >= 24:
        return struct.unpack(">II", data[16:24])
    if data[:4] in (b"II*\x00", b"MM\x00*"):
        return _tiff_dimensions(data)
    return None


def image_size(data):
    """(width, height, frames) of encoded image DATA, read from its header, nothing decoded.

    FRAMES is 1 except for animated GIF and WebP (TensorFlow decodes every frame of a GIF
    even when it keeps only the first). Raises ImageError ("not a decodable image") when the
    size cannot be read: such a file is refused, never handed to a decoder unchecked.
    """
    try:
        with Image.open(io.BytesIO(data)) as image:
            width, height = image.size
            frames = getattr(image, "n_frames", 1) or 1
            return width, height, frames
    except (OSError, ValueError, SyntaxError, EOFError, struct.error, MemoryError):
        pass  # Pillow could not read the header: see _plain_header_dimensions
    dimensions = _plain_header_dimensions(data)
    if dimensions is not None:
        return dimensions[0], dimensions[1], 1
    raise ImageError("not a decodable image")


def check_image_size(data, max_pixels, min_side=0):
    """(width, height) of DATA after refusing, before anything decodes it, a header that claims
    more than MAX_PIXELS pixels (all frames of an animation counted) or a side under MIN_SIDE.
    The one size check of data_prep, infer and serve; raises ImageError naming the limit."""
    width, height, frames = image_size(data)
    check_dimensions(width, height, max_pixels, min_side, claimed=True, frames=frames)
    return width, height


def image_dimensions(data):
    """(width, height) read from the header, or None if it cannot be read (see image_size)."""
    try:
        return image_size(data)[:2]
    except ImageError:
        return None


def _jpeg_layout(data):
    """((width, height) or None, offset of the first SOS marker) of JPEG DATA.

    The offset is None if the data ends before any scan (truncated) and -1 if the segments
    do not chain up (some writers leave junk between segments, which libjpeg tolerates, so
    that alone is not treated as an error). The walk is pix2pix.io.jpeg's, shared with infer.
    """
    dimensions = None
    for segment in jpeg.segments(data):
        if segment.marker is None:  # the chain broke (junk) or the data ended
            return dimensions, (-1 if segment.broken else None)
        if segment.marker == jpeg.START_OF_SCAN:
            return dimensions, segment.position
        if dimensions is None:
            dimensions = jpeg.frame_dimensions(segment)
    return dimensions, None


def check_pixel_limit(contents, source, max_pixels):
    """(width, height) of an image, after refusing (Pix2PixError naming SOURCE) one whose header
    claims more than MAX_PIXELS pixels (an animated GIF counts every frame: TensorFlow decodes
    them all) or whose size cannot be read at all, before anything decodes it. Infer's and
    serve's wording of check_image_size (the pixel count in full, as their flags take it)."""
    try:
        width, height, frames = image_size(contents)
    except ImageError as err:
        raise Pix2PixError("%s: %s" % (source, err)) from None
    pixels = width * height * frames
    if pixels > max_pixels:
        claim = "%d frames of %dx%d" % (frames, width, height) if frames > 1 else "%dx%d" % (width, height)
        raise Pix2PixError("%s: the image claims %s = %s pixels, over the limit of %s (--max_pixels)"
                           % (source, claim, format(pixels, ","), format(max_pixels, ",")))
    return width, height


# The leading bytes of what the exported model's graph decodes (PNG, JPEG, GIF, BMP: as
# pix2pix.inference.translator checks); upright() hands it anything else as PNG.
_MODEL_DECODES = (b"\x89PNG\r\n\x1a\n", b"\xff\xd8\xff", b"GIF87a", b"GIF89a", b"BM")


def upright(contents, source, max_pixels):
    """CONTENTS as the photo is meant to be seen: a JPEG whose EXIF says it is stored turned or
    mirrored is decoded with the orientation applied and re-encoded as PNG, losslessly; anything
    else is returned as it is (infer and serve give the model, and write, the photo the right way
    up, as image viewers show it). A WebP or TIFF photo, which the exported model's graph does not
    decode, is decoded here and re-encoded as PNG, losslessly, too. The size is checked first
    (check_pixel_limit), so this never decodes a bomb."""
    check_pixel_limit(contents, source, max_pixels)
    if jpeg.orientation(contents) == 1 and contents.startswith(_MODEL_DECODES):
        return contents
    try:
        image = decode_image(contents, max_pixels)
    except ImageError:  # let the model's decoder report the problem
        return contents
    return encode_image(image, "png")


def truncation_problem(data):
    """A reason string if a PNG or JPEG file is visibly cut short, else None.

    A PNG must contain its IEND chunk; a JPEG must have an end-of-image
    marker after its first scan (thumbnails in EXIF have their own EOI
    earlier, and 0xFF bytes inside scan data are always escaped, so an
    FF D9 after the scan start can only be the real end marker).
    """
    if data.startswith(b"\x89PNG\r\n\x1a\n") and data.rfind(b"IEND") < 0:
        return "truncated PNG file (no IEND chunk)"
    if data.startswith(b"\xff\xd8"):
        scan_start = _jpeg_layout(data)[1]
        if scan_start == -1:
            scan_start = data.find(b"\xff\xda", 2)
        if scan_start is None or scan_start < 0 or data.rfind(b"\xff\xd9") < scan_start:
            return "truncated or malformed JPEG file (no end-of-image marker after the image data)"
    return None


# --- decoding ---------------------------------------------------------------

def check_dimensions(width, height, max_pixels, min_side, claimed=False, frames=1):
    """Raise ImageError if width x height (x frames) is over max_pixels or a side under min_side."""
    verb = "claims" if claimed else "is"
    pixels = width * height * frames
    if pixels > max_pixels:
        animation = " in %d frames" % frames if frames > 1 else ""
        raise ImageError("image %s %dx%d pixels%s (%.1f megapixels), over the limit of %.1f megapixels "
                         "(--max_pixels)" % (verb, width, height, animation, pixels / 1e6, max_pixels / 1e6))
    if min(width, height) < min_side:
        raise ImageError("image %s only %dx%d pixels, smaller than the minimum side of %d (--min_side)"
                         % (verb, width, height, min_side))


def to_uint8(pixels):
    """Scale decoded samples to uint8: 16-bit by /257 (rounded, so 65535 -> 255),
    float by clipping to [0, 1] and * 255."""
    if pixels.dtype == np.uint8:
        return pixels
    if pixels.dtype == np.uint16:
        return ((pixels.astype(np.uint32) + 128) // 257).astype(np.uint8)
    if pixels.dtype in (np.float32, np.float64):
        return np.rint(np.clip(np.nan_to_num(pixels), 0.0, 1.0) * 255.0).astype(np.uint8)
    raise ImageError("unsupported sample type %s" % pixels.dtype)


def decode_image(data, max_pixels=DEFAULT_MAX_PIXELS, min_side=1):
    """Decode encoded image bytes to an RGB uint8 array (see module docstring)."""
    if not data:
        raise ImageError("empty file (0 bytes)")
    check_image_size(data, max_pixels, min_side)
    problem = truncation_problem(data)
    if problem:
        raise ImageError(problem)
    try:
        pixels = cv2.imdecode(np.frombuffer(data, np.uint8), _IMREAD_FLAGS)
    except cv2.error as error:
        # e.g. OpenCV's own size limits for formats whose header we do not parse
        reason = str(error).strip().splitlines()[-1]
        raise ImageError("not a decodable image (OpenCV: %s)" % reason) from None
    if pixels is None or pixels.size == 0:
        raise ImageError("not a decodable image")
    if pixels.ndim == 2:  # defensive: colour flags should always give 3 channels
        pixels = cv2.merge([pixels, pixels, pixels])
    check_dimensions(pixels.shape[1], pixels.shape[0], max_pixels, min_side)
    pixels = to_uint8(pixels[:, :, :3])
    if _IMREAD_RGB is None:
        pixels = cv2.cvtColor(pixels, cv2.COLOR_BGR2RGB)
    return np.ascontiguousarray(pixels)


def read_file_bytes(path):
    """The bytes of ``path``; OS errors become one-line ImageErrors."""
    try:
        with open(path, "rb") as handle:
            return handle.read()
    except OSError as error:
        raise ImageError("cannot read file: %s" % (error.strerror or error)) from None


def read_image(path, max_pixels=DEFAULT_MAX_PIXELS, min_side=1):
    """Read an image file as an RGB uint8 array of shape (height, width, 3).

    Raises ImageError (one-line reason) for unreadable, truncated, malformed,
    too large (> max_pixels, checked from the header before decoding) or too
    small (shorter side < min_side) images.
    """
    return decode_image(read_file_bytes(path), max_pixels=max_pixels, min_side=min_side)


# --- writing ----------------------------------------------------------------

def output_format(path):
    """"png" or "jpg" from the output file's extension."""
    extension = os.path.splitext(path)[1].lower()
    if extension == ".png":
        return "png"
    if extension in (".jpg", ".jpeg"):
        return "jpg"
    raise ValueError("output must end in .png or .jpg: %s" % path)


def encode_image(image, image_format="png", quality=DEFAULT_JPEG_QUALITY):
    """Encode an RGB uint8 image as PNG or JPEG bytes."""
    if image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
        raise ValueError("expected an RGB uint8 image, got %s %s" % (image.dtype, image.shape))
    bgr = cv2.cvtColor(image, cv2.COLOR_RGB2BGR)
    if image_format == "png":
        ok, encoded = cv2.imencode(".png", bgr)
    elif image_format == "jpg":
        ok, encoded = cv2.imencode(".jpg", bgr, [cv2.IMWRITE_JPEG_QUALITY, int(quality)])
    else:
        raise ValueError("unknown image format %r (use one of %s)" % (image_format, ", ".join(OUTPUT_FORMATS)))
    if not ok:
        raise ValueError("OpenCV could not encode the image as %s" % image_format)
    return encoded.tobytes()


# The project's one atomic writer (pix2pix/fileio.py): a temporary file beside the target,
# fsynced, renamed over it; unfinished temporaries are removed by the workers' signal handler.
remove_unfinished_temporaries = fileio.remove_unfinished_temporaries
write_bytes_atomically = fileio.atomic_write_bytes
copy_file_atomically = fileio.atomic_copy


def write_image(path, image, quality=DEFAULT_JPEG_QUALITY):
    """Atomically write an RGB uint8 image; PNG or JPEG chosen by the extension."""
    write_bytes_atomically(path, encode_image(image, output_format(path), quality))
