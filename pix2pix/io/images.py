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


# --- every frame's size, from the file's own structure -----------------------
#
# Pillow's size is the first frame's (a GIF's logical screen, grown to fit frame 0 only), but
# decoders allocate for the others too: TensorFlow's GIF decoder makes every frame as large as
# the largest (a GIF of an 8x8 screen can hold a 6000x6000 second frame), and the frames of an
# animated PNG (fcTL), WebP (ANMF) or of a TIFF's pages carry sizes of their own. These walks read
# each frame's header and skip its data (seek, nothing decoded, nothing held), so the check below
# sees the largest frame and the number of frames of every format before a decoder runs.

MAX_FRAMES_WALKED = 100_000  # a file claiming more frames is refused (see _frame_sizes)


def _read_exactly(handle, count):
    data = handle.read(count)
    return data if len(data) == count else None


def _gif_frames(handle):
    """[(width, height)] of every image descriptor of a GIF, the logical screen first."""
    header = _read_exactly(handle, 13)
    if header is None:
        return []
    sizes = [struct.unpack("<HH", header[6:10])]
    if header[10] & 0x80:  # the global colour table
        handle.seek(3 * (2 << (header[10] & 7)), io.SEEK_CUR)
    while len(sizes) <= MAX_FRAMES_WALKED:
        introducer = handle.read(1)
        if introducer == b"!":  # an extension: its label, then data sub-blocks
            if not handle.read(1) or not _skip_sub_blocks(handle):
                break
        elif introducer == b",":  # an image: left, top, width, height, flags
            descriptor = _read_exactly(handle, 9)
            if descriptor is None:
                break
            sizes.append(struct.unpack("<HH", descriptor[4:8]))
            if descriptor[8] & 0x80:  # a local colour table
                handle.seek(3 * (2 << (descriptor[8] & 7)), io.SEEK_CUR)
            if not handle.read(1) or not _skip_sub_blocks(handle):  # LZW code size, the pixels
                break
        else:  # the trailer, the end of the data, or bytes no decoder reads further
            break
    return sizes


def _skip_sub_blocks(handle):
    """Skip a GIF's data sub-blocks up to their terminator; False if the data ends first."""
    while True:
        length = handle.read(1)
        if not length:
            return False
        if length == b"\0":
            return True
        handle.seek(length[0], io.SEEK_CUR)


def _png_frames(handle):
    """[(width, height)] of a PNG's IHDR and of each fcTL (animated PNG frame) chunk; the walk
    stops at the first IDAT when no acTL came before it (not animated)."""
    handle.seek(8)
    sizes, animated = [], False
    while len(sizes) <= MAX_FRAMES_WALKED:
        head = _read_exactly(handle, 8)
        if head is None:
            break
        length, kind = struct.unpack(">I4s", head)
        if kind in (b"IHDR", b"fcTL"):
            data = _read_exactly(handle, min(length, 12))
            if data is None or len(data) < 12:
                break
            sizes.append(struct.unpack(">II", data[:8] if kind == b"IHDR" else data[4:12]))
            handle.seek(length - 12 + 4, io.SEEK_CUR)
            continue
        if kind == b"acTL":
            animated = True
        if kind == b"IEND" or (kind == b"IDAT" and not animated):
            break
        handle.seek(length + 4, io.SEEK_CUR)
    return sizes


def _webp_frames(handle):
    """[(width, height)] of a WebP's canvas (VP8X) and of each ANMF frame."""
    handle.seek(12)
    sizes = []
    while len(sizes) <= MAX_FRAMES_WALKED:
        head = _read_exactly(handle, 8)
        if head is None:
            break
        kind, length = struct.unpack("<4sI", head)
        if kind in (b"VP8X", b"ANMF"):
            data = _read_exactly(handle, 12)
            if data is None:
                break
            at = 4 if kind == b"VP8X" else 6  # the canvas size; a frame's follows its X and Y
            sizes.append((1 + int.from_bytes(data[at:at + 3], "little"),
                          1 + int.from_bytes(data[at + 3:at + 6], "little")))
            if kind == b"ANMF":  # its frame data: nested chunks, walked as the file's own
                handle.seek(4, io.SEEK_CUR)
                continue
            length -= 12
        handle.seek(length + (length & 1), io.SEEK_CUR)
    return sizes


def _tiff_pages(handle):
    """[(width, height)] of every page (IFD) of a classic TIFF, following the chain of IFDs
    (a chain that loops back is followed once)."""
    handle.seek(0)
    header = _read_exactly(handle, 8)
    order = "<" if header[:2] == b"II" else ">"
    (offset,) = struct.unpack(order + "I", header[4:8])
    sizes, seen = [], set()
    while offset and offset not in seen and len(sizes) <= MAX_FRAMES_WALKED:
        seen.add(offset)
        handle.seek(offset)
        count = _read_exactly(handle, 2)
        if count is None:
            break
        (entries,) = struct.unpack(order + "H", count)
        table = _read_exactly(handle, 12 * entries + 4)
        if table is None:
            break
        page = {}
        for at in range(0, 12 * entries, 12):
            tag, field_type = struct.unpack(order + "HH", table[at:at + 4])
            if tag in (256, 257):
                code = "H" if field_type == 3 else "I"
                (page[tag],) = struct.unpack(order + code, table[at + 8:at + 8 + struct.calcsize(code)])
        if 256 in page and 257 in page:
            sizes.append((page[256], page[257]))
        (offset,) = struct.unpack(order + "I", table[-4:])
    return sizes


# (magic, walk, whether its first size is a container's: a GIF's screen, a PNG's IHDR, a WebP's
# canvas, each followed by its frames' sizes when animated; a TIFF lists pages only)
_FRAME_WALKS = ((b"GIF8", _gif_frames, True), (b"\x89PNG", _png_frames, True),
                (b"II*\x00", _tiff_pages, False), (b"MM\x00*", _tiff_pages, False))


def _frame_sizes(handle):
    """(largest width, largest height, frames) over every frame the file's structure declares
    (see above), or None for a format without frames of their own sizes (JPEG, BMP) or data too
    short to say."""
    handle.seek(0)
    magic = handle.read(16)
    found = next((entry[1:] for entry in _FRAME_WALKS if magic.startswith(entry[0])), None)
    if found is None and magic[:4] == b"RIFF" and magic[8:12] == b"WEBP":
        found = (_webp_frames, True)
    if found is None:
        return None
    walk, container_first = found
    handle.seek(0)
    try:
        sizes = walk(handle)
    except (struct.error, ValueError, TypeError, OSError):
        return None
    if len(sizes) > MAX_FRAMES_WALKED:
        raise ImageError("the file declares more than %s frames" % format(MAX_FRAMES_WALKED, ","))
    if not sizes:
        return None
    frames = max(1, len(sizes) - 1) if container_first else len(sizes)
    return max(size[0] for size in sizes), max(size[1] for size in sizes), frames


def image_size(data):
    """(width, height, frames) of encoded image DATA (bytes, or a binary file: then only its
    headers are read), nothing decoded.

    WIDTH and HEIGHT are the largest any frame declares (a decoder makes every frame that large);
    FRAMES is 1 except for animations (TensorFlow decodes every frame of a GIF even when it
    keeps only the first) and multi-page TIFFs. Raises ImageError ("not a decodable image") when
    the size cannot be read: such a file is refused, never handed to a decoder unchecked.
    """
    handle = io.BytesIO(data) if isinstance(data, (bytes, bytearray, memoryview)) else data
    walked = _frame_sizes(handle)
    handle.seek(0)
    try:
        with Image.open(handle) as image:
            width, height = image.size
            frames = walked[2] if walked else getattr(image, "n_frames", 1) or 1
    except (OSError, ValueError, SyntaxError, EOFError, struct.error, MemoryError):
        # Pillow could not read the header: a PNG cut short after its IHDR (Pillow reads on to the
        # next chunk) or a TIFF sample layout Pillow lacks (32-bit float RGB), which a decoder
        # might still try, have their size from the walks above; anything else is refused.
        if not walked:
            raise ImageError("not a decodable image") from None
        width, height, frames = walked
    if walked:
        width, height = max(width, walked[0]), max(height, walked[1])
    return width, height, frames


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


def check_file_size(path, max_pixels, min_side=0):
    """check_image_size of the file PATH, reading only its headers (a huge file is refused
    without being read whole); OS errors become one-line ImageErrors."""
    try:
        with open(path, "rb") as handle:
            if os.fstat(handle.fileno()).st_size == 0:
                raise ImageError("empty file (0 bytes)")
            return check_image_size(handle, max_pixels, min_side)
    except OSError as error:
        raise ImageError("cannot read file: %s" % (error.strerror or error)) from None


def name_problem(path):
    """A reason if the file name PATH cannot be handed to TensorFlow (which takes names as UTF-8
    text): a name of other bytes (Latin-1, say) on a UTF-8 system. None otherwise."""
    try:
        path.encode("utf-8")
    except UnicodeEncodeError:
        return "the file name is not valid UTF-8 (TensorFlow cannot open it): rename the file"
    return None


def size_problems(paths, max_pixels):
    """[(path, reason)] for every file of PATHS whose name TensorFlow cannot take (name_problem),
    or whose headers claim more than MAX_PIXELS pixels or give no size at all (check_file_size):
    train's and test's check before anything decodes, made whether or not the decoding pre-flight
    check runs."""
    problems = []
    for path in paths:
        if name_problem(path):
            problems.append((path, name_problem(path)))
            continue
        try:
            check_file_size(path, max_pixels)
        except ImageError as err:
            problems.append((path, str(err)))
    return problems


def read_image(path, max_pixels=DEFAULT_MAX_PIXELS, min_side=1):
    """Read an image file as an RGB uint8 array of shape (height, width, 3).

    Raises ImageError (one-line reason) for unreadable, truncated, malformed,
    too large (> max_pixels, checked from the headers before the file is read whole) or too
    small (shorter side < min_side) images.
    """
    check_file_size(path, max_pixels, min_side)
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


# The project's one atomic writer (pix2pix/io/files.py): a temporary file beside the target,
# fsynced, renamed over it; unfinished temporaries are removed by the workers' signal handler.
remove_unfinished_temporaries = fileio.remove_unfinished_temporaries
copy_file_atomically = fileio.atomic_copy


def write_image(path, image, quality=DEFAULT_JPEG_QUALITY):
    """Atomically write an RGB uint8 image; PNG or JPEG chosen by the extension."""
    fileio.atomic_write_bytes(path, encode_image(image, output_format(path), quality))
