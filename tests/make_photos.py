#!/usr/bin/env python3
"""Test pictures for conforming (no imaging library needed): OUT/photo.png, a dark red T-shirt off-centre
on warm white (a product photo in miniature), and OUT/flat.png, a uniform grey square."""
import struct
import sys
import zlib


def png(path, w, h, pixel):
    rows = b"".join(b"\0" + bytes(v for x in range(w) for v in pixel(x, y)) for y in range(h))
    chunk = lambda t, d: struct.pack(">I", len(d)) + t + d + struct.pack(">I", zlib.crc32(t + d))
    with open(path, "wb") as f:
        f.write(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0))
                + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b""))


def shirt(x, y):
    body = 60 <= x < 120 and 30 <= y < 130
    sleeves = 35 <= x < 145 and 30 <= y < 60
    return (150, 40, 50) if body or sleeves else (245, 240, 228)


out = sys.argv[1]
png(out + "/photo.png", 220, 160, shirt)
png(out + "/flat.png", 40, 40, lambda x, y: (128, 128, 128))
