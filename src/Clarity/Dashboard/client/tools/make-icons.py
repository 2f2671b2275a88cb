#!/usr/bin/env python3
"""Draws the PNG app icons (wwwroot/icons/icon-192.png, icon-512.png, icon-maskable-512.png) from the same shapes as
icon.svg, with no image library: 4x4 supersampling and a hand-written PNG encoder. Run it again after changing the logo."""
import math, os, struct, zlib

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, '..', '..', '..', 'wwwroot', 'icons')
BG, WHITE, ARC = (0x24, 0x54, 0xd6), (255, 255, 255), (0x9b, 0xd1, 0xff)


def shade(x, y, maskable):
    """Colour at (x, y) in the 64x64 design space, or None outside the icon."""
    if maskable:
        # Full bleed background; the logo shrinks into the 80% safe zone.
        x, y = 32 + (x - 32) / 0.72, 32 + (y - 32) / 0.72
    else:
        r = 14
        cx, cy = min(max(x, r), 64 - r), min(max(y, r), 64 - r)
        if (x - cx) ** 2 + (y - cy) ** 2 > r * r:
            return None
    d = math.hypot(x - 32, y - 32)
    if d <= 5:
        return WHITE
    if 14 <= d <= 20:
        angle = math.degrees(math.atan2(y - 32, x - 32))  # 0 = east, -90 = north
        if -62 <= angle <= 0:
            return ARC
        return WHITE
    return BG


def render(size, maskable):
    n = 4
    rows = []
    for py in range(size):
        row = bytearray([0])
        for px in range(size):
            acc = [0, 0, 0, 0]
            for sy in range(n):
                for sx in range(n):
                    c = shade((px + (sx + .5) / n) * 64 / size, (py + (sy + .5) / n) * 64 / size, maskable)
                    if c is not None:
                        acc[0] += c[0]; acc[1] += c[1]; acc[2] += c[2]; acc[3] += 255
            cov = acc[3] / 255
            row += bytes([int(acc[0] / cov) if cov else 0, int(acc[1] / cov) if cov else 0, int(acc[2] / cov) if cov else 0, acc[3] // (n * n)])
        rows.append(bytes(row))
    return png(size, b''.join(rows))


def png(size, raw):
    def chunk(kind, data):
        return struct.pack('>I', len(data)) + kind + data + struct.pack('>I', zlib.crc32(kind + data) & 0xffffffff)
    return b'\x89PNG\r\n\x1a\n' + chunk(b'IHDR', struct.pack('>IIBBBBB', size, size, 8, 6, 0, 0, 0)) + chunk(b'IDAT', zlib.compress(raw, 9)) + chunk(b'IEND', b'')


if __name__ == '__main__':
    for name, size, maskable in [('icon-192.png', 192, False), ('icon-512.png', 512, False), ('icon-maskable-512.png', 512, True)]:
        with open(os.path.join(OUT, name), 'wb') as f:
            f.write(render(size, maskable))
        print('wrote', name)
