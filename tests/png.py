"""A PNG reader for the browser tests' screenshots: size and pixels, with no imaging library.

Enough for what Chromium writes (8-bit RGB or RGBA, not interlaced): the IDAT chunks
inflated, each scanline's filter undone (PNG spec, section 9).
"""

from __future__ import annotations

import dataclasses
import struct
import zlib

SIGNATURE = b"\x89PNG\r\n\x1a\n"
#: colour type -> channels per pixel
CHANNELS = {2: 3, 6: 4}


@dataclasses.dataclass(frozen=True)
class Image:
    width: int
    height: int
    #: (r, g, b) of each pixel, row by row
    pixels: list[tuple[int, int, int]]

    def colours(self) -> set[tuple[int, int, int]]:
        return set(self.pixels)

    def share(self, colour: tuple[int, int, int], tolerance: int = 8) -> float:
        """The share of the pixels within `tolerance` of `colour` in each channel."""
        near = sum(
            1
            for p in self.pixels
            if all(abs(a - b) <= tolerance for a, b in zip(p, colour, strict=True))
        )
        return near / len(self.pixels)


def read_png(data: bytes) -> Image:
    assert data.startswith(SIGNATURE), "not a PNG"
    pos, idat, header = len(SIGNATURE), b"", b""
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        kind, body = data[pos + 4 : pos + 8], data[pos + 8 : pos + 8 + length]
        pos += 12 + length
        if kind == b"IHDR":
            header = body
        elif kind == b"IDAT":
            idat += body
    width, height, depth, colour_type, _, _, interlace = struct.unpack(">IIBBBBB", header)
    assert depth == 8 and colour_type in CHANNELS and interlace == 0, "an unusual PNG"
    channels = CHANNELS[colour_type]
    raw = zlib.decompress(idat)
    stride = width * channels
    rows: list[bytearray] = []
    previous = bytearray(stride)
    for y in range(height):
        start = y * (stride + 1)
        row = _unfilter(
            raw[start], bytearray(raw[start + 1 : start + 1 + stride]), previous, channels
        )
        rows.append(row)
        previous = row
    pixels = [(row[x], row[x + 1], row[x + 2]) for row in rows for x in range(0, stride, channels)]
    return Image(width, height, pixels)


def _unfilter(kind: int, row: bytearray, above: bytearray, bpp: int) -> bytearray:
    for i in range(len(row)):
        left = row[i - bpp] if i >= bpp else 0
        up = above[i]
        corner = above[i - bpp] if i >= bpp else 0
        if kind == 1:
            row[i] = (row[i] + left) & 0xFF
        elif kind == 2:
            row[i] = (row[i] + up) & 0xFF
        elif kind == 3:
            row[i] = (row[i] + (left + up) // 2) & 0xFF
        elif kind == 4:
            row[i] = (row[i] + _paeth(left, up, corner)) & 0xFF
    return row


def _paeth(a: int, b: int, c: int) -> int:
    p = a + b - c
    pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
    if pa <= pb and pa <= pc:
        return a
    return b if pb <= pc else c
