"""The one walk over a JPEG's marker segments, for what lies before the image data: its
dimensions (data_prep's bomb and truncation checks) and its EXIF orientation (infer).
Pure Python on bytes."""

import struct
from typing import Iterator, NamedTuple, Optional

START_OF_SCAN = 0xDA
_END_OF_IMAGE = 0xD9
_APP1 = 0xE1
# Start-of-frame markers (baseline, progressive, lossless, arithmetic...); C4 (DHT), C8 (JPG)
# and CC (DAC) share the range but are not frames.
_START_OF_FRAME = frozenset(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}
# Markers that stand alone, without a length field.
_STANDALONE = frozenset([0x01] + list(range(0xD0, 0xD9)))


class Segment(NamedTuple):
    """One marker segment: MARKER at byte POSITION, PAYLOAD after its length field.

    The last item of a walk that did not reach the scan has marker None: BROKEN when the
    bytes stopped chaining up into segments, else the data ended.
    """

    marker: Optional[int]
    position: int
    payload: bytes = b""
    broken: bool = False


def segments(data: bytes) -> Iterator[Segment]:
    """The segments of JPEG DATA from after SOI up to and including the first SOS (or EOI)."""
    if data[:2] != b"\xff\xd8":
        yield Segment(None, 0, broken=True)
        return
    position = 2
    while position + 4 <= len(data):
        if data[position] != 0xFF:
            yield Segment(None, position, broken=True)
            return
        marker = data[position + 1]
        if marker == 0xFF:  # fill byte
            position += 1
            continue
        if marker in _STANDALONE:
            position += 2
            continue
        if marker in (START_OF_SCAN, _END_OF_IMAGE):  # image data (or the end) follows
            yield Segment(marker, position)
            return
        (length,) = struct.unpack(">H", data[position + 2:position + 4])
        yield Segment(marker, position, data[position + 4:position + 2 + length])
        position += 2 + length
    yield Segment(None, position)


def frame_dimensions(segment: Segment):
    """(width, height) if SEGMENT is a start-of-frame with both set, else None."""
    if segment.marker not in _START_OF_FRAME or len(segment.payload) < 5:
        return None
    height, width = struct.unpack(">HH", segment.payload[1:5])
    return (width, height) if width and height else None  # height 0: "defined later" (DNL)


def orientation(data: bytes) -> int:
    """The EXIF Orientation (1-8) of JPEG DATA; 1 (as stored) when absent or not a JPEG.

    Reads tag 0x0112 from the first directory of the APP1 "Exif" segment (either byte order).
    """
    for segment in segments(data):
        if segment.marker == _APP1 and segment.payload[:6] == b"Exif\0\0":
            return _tiff_orientation(segment.payload[6:])
    return 1


def _tiff_orientation(tiff: bytes) -> int:
    order = {b"II": "<", b"MM": ">"}.get(tiff[:2])
    if order is None or len(tiff) < 8:
        return 1
    directory = struct.unpack(order + "I", tiff[4:8])[0]
    if directory + 2 > len(tiff):
        return 1
    for i in range(struct.unpack(order + "H", tiff[directory:directory + 2])[0]):
        entry = tiff[directory + 2 + 12 * i:directory + 14 + 12 * i]
        if len(entry) < 12:
            break
        if struct.unpack(order + "H", entry[:2])[0] == 0x0112:
            value = struct.unpack(order + "H", entry[8:10])[0]
            return value if 1 <= value <= 8 else 1
    return 1
