"""A minimal lossless JPEG encoder (ITU T.81 process 14, selection value 1) for test fixtures.

No Python package at hand encodes lossless JPEG, which DICOM uses a lot (transfer syntax
1.2.840.10008.1.2.4.70). This writes one grayscale component with predictor 1 and a
fixed Huffman table giving every difference category a 5-bit code; enough for tiny
fixtures, not for production.
"""

from __future__ import annotations

import struct

import numpy as np
from numpy.typing import NDArray


def _segment(marker: int, payload: bytes) -> bytes:
    return struct.pack(">HH", marker, len(payload) + 2) + payload


def _differences(img: NDArray[np.integer], precision: int) -> NDArray[np.int64]:
    x = img.astype(np.int64)
    pred = np.empty_like(x)
    pred[0, 0] = 1 << (precision - 1)
    pred[0, 1:] = x[0, :-1]  # first row: left neighbour
    pred[1:, 0] = x[:-1, 0]  # first column: neighbour above
    pred[1:, 1:] = x[1:, :-1]  # predictor 1: left neighbour
    diff = (x - pred) % 65536
    return np.where(diff >= 32768, diff - 65536, diff)


def encode_lossless_jpeg(img: NDArray[np.integer], precision: int) -> bytes:
    """Encode a 2-D unsigned integer image with `precision` bits (2..16)."""
    rows, cols = img.shape
    out = bytearray(b"\xff\xd8")
    out += _segment(0xFFC3, struct.pack(">BHHB", precision, rows, cols, 1) + b"\x01\x11\x00")
    bits = [0] * 16
    bits[4] = 17  # 17 symbols (categories 0..16), all with 5-bit codes 0..16
    out += _segment(0xFFC4, b"\x00" + bytes(bits) + bytes(range(17)))
    out += _segment(0xFFDA, b"\x01\x01\x00" + b"\x01\x00\x00")  # Ss=1 (predictor), Al=0
    acc, nbits, data = 0, 0, bytearray()
    for d in _differences(img, precision).ravel().tolist():
        cat = 16 if d == -32768 else abs(d).bit_length()
        acc, nbits = (acc << 5) | cat, nbits + 5
        if 0 < cat < 16:
            extra = d if d > 0 else d - 1
            acc, nbits = (acc << cat) | (extra & ((1 << cat) - 1)), nbits + cat
        while nbits >= 8:
            nbits -= 8
            byte = (acc >> nbits) & 0xFF
            data.append(byte)
            if byte == 0xFF:
                data.append(0)
        acc &= (1 << nbits) - 1
    if nbits:
        byte = ((acc << (8 - nbits)) | ((1 << (8 - nbits)) - 1)) & 0xFF
        data += bytes([byte, 0]) if byte == 0xFF else bytes([byte])
    return bytes(out + data + b"\xff\xd9")
