#!/usr/bin/env python3
"""Checks a PNG (standard library only): its size, and that it is not one flat colour.
usage: png_check.py FILE [MIN_WIDTH MIN_HEIGHT]  -> prints 'WxH, N colours'; exits 1 when trivial.
       png_check.py FILE --mean X,Y,W,H          -> prints the region's mean brightness (0-255)."""
import struct
import sys
import zlib


def read_png(path):
    data = open(path, "rb").read()
    if data[:8] != b"\x89PNG\r\n\x1a\n":
        raise SystemExit(f"{path}: not a PNG")
    pos, idat, header = 8, b"", None
    while pos < len(data):
        length, kind = struct.unpack(">I4s", data[pos:pos + 8])
        body = data[pos + 8:pos + 8 + length]
        if kind == b"IHDR":
            header = struct.unpack(">IIBBBBB", body)
        elif kind == b"IDAT":
            idat += body
        pos += 12 + length
    w, h, depth, colour_type, _, _, interlace = header
    if depth != 8 or interlace != 0 or colour_type not in (0, 2, 6):
        raise SystemExit(f"{path}: unsupported PNG layout {header}")
    bpp = {0: 1, 2: 3, 6: 4}[colour_type]
    raw = zlib.decompress(idat)
    stride = w * bpp
    rows, prev = [], bytearray(stride)
    for y in range(h):
        f = raw[y * (stride + 1)]
        line = bytearray(raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)])
        for i in range(stride):
            a = line[i - bpp] if i >= bpp else 0
            b = prev[i]
            c = prev[i - bpp] if i >= bpp else 0
            if f == 1:
                line[i] = (line[i] + a) & 255
            elif f == 2:
                line[i] = (line[i] + b) & 255
            elif f == 3:
                line[i] = (line[i] + (a + b) // 2) & 255
            elif f == 4:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                line[i] = (line[i] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
        rows.append(bytes(line))
        prev = line
    return w, h, bpp, rows


def region_mean(path, rect):
    x0, y0, rw, rh = (int(v) for v in rect.split(","))
    w, h, bpp, rows = read_png(path)
    if x0 < 0 or y0 < 0 or x0 + rw > w or y0 + rh > h:
        sys.exit(f"{path}: the region {rect} is outside {w}x{h}")
    values = [rows[y][x * bpp + c] for y in range(y0, y0 + rh) for x in range(x0, x0 + rw)
              for c in range(min(bpp, 3))]
    print(f"{sum(values) / len(values):.1f}")


def main():
    path = sys.argv[1]
    if len(sys.argv) > 3 and sys.argv[2] == "--mean":
        return region_mean(path, sys.argv[3])
    min_w = int(sys.argv[2]) if len(sys.argv) > 2 else 1
    min_h = int(sys.argv[3]) if len(sys.argv) > 3 else 1
    w, h, bpp, rows = read_png(path)
    colours = set()
    for row in rows[::4]:
        for x in range(0, w * bpp, bpp * 3):
            colours.add(row[x:x + bpp])
    print(f"{w}x{h}, {len(colours)} colours")
    if w < min_w or h < min_h:
        sys.exit(f"{path}: {w}x{h} is smaller than {min_w}x{min_h}")
    if len(colours) < 20:
        sys.exit(f"{path}: only {len(colours)} colours: the window looks empty")


main()
