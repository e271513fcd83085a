"""The built-in data set's images: procedurally drawn cartoon faces (skin, hair, eyes, brows, nose, mouth), so
`ganbench run` works offline with nothing downloaded. Pure numpy; `ganbench.data.synthetic` caches and serves them."""

from __future__ import annotations

import numpy as np

VERSION = 2  # of the drawing: part of the data cache's key and of the data protocol; raise it when a face changes


def _soft(sd: np.ndarray, px: float) -> np.ndarray:
    """Anti-aliased coverage from a signed distance (negative inside), one pixel wide."""
    return np.clip(0.5 - sd / px, 0.0, 1.0)


def _ellipse_sd(x, y, cx, cy, rx, ry):
    return (np.sqrt(((x - cx) / rx) ** 2 + ((y - cy) / ry) ** 2) - 1.0) * np.minimum(rx, ry)


def draw_faces(n: int, res: int, rng: np.random.Generator) -> np.ndarray:
    """n face-like RGB images (n, res, res, 3) uint8. All parameters are drawn per image, vectorised."""

    def u(lo, hi):
        return rng.uniform(lo, hi, size=(n, 1, 1)).astype(np.float32)

    def pick(palette):
        palette = np.asarray(palette, dtype=np.float32) / 255.0
        i = rng.integers(0, len(palette), size=n)
        jitter = rng.normal(0, 0.03, size=(n, 3))
        return np.clip(palette[i] + jitter, 0, 1).astype(np.float32)[:, None, None, :]  # (n, 1, 1, 3)

    px = 2.0 / res
    g = (np.arange(res, dtype=np.float32) + 0.5) * px - 1.0
    Y, X = np.meshgrid(g, g, indexing="ij")
    X, Y = X[None], Y[None]  # (1, res, res)

    # background: vertical gradient between two muted colours
    top, bottom = rng.uniform(0.15, 0.85, size=(2, n, 1, 1, 3)).astype(np.float32)
    t = ((Y + 1) / 2)[..., None]
    img = top * (1 - t) + bottom * t

    def paint(alpha, colour):
        nonlocal img
        a = alpha[..., None].astype(np.float32)
        img = img + (colour - img) * a

    # face frame: centre, size and a small tilt shared by every feature
    cx, cy = u(-0.08, 0.08), u(0.0, 0.12)
    ax, ay = u(0.46, 0.58), u(0.58, 0.72)
    tilt = u(-0.12, 0.12)
    c, s = np.cos(tilt), np.sin(tilt)
    fx = ((X - cx) * c + (Y - cy) * s) / ax  # face coordinates: the face ellipse is the unit disk
    fy = (-(X - cx) * s + (Y - cy) * c) / ay
    fpx = px / np.minimum(ax, ay)

    hair = pick([(20, 15, 10), (70, 45, 25), (120, 80, 40), (200, 170, 100), (150, 60, 30), (160, 160, 160)])
    skin = pick([(255, 224, 196), (234, 192, 160), (200, 150, 110), (160, 110, 75), (110, 75, 50)])
    hair_len = u(0.0, 0.9)
    # hair: a larger ellipse behind the face, reaching down by hair_len
    paint(_soft(_ellipse_sd(fx, fy, 0.0, -0.12 + hair_len * 0.35, 1.18, 1.02 + hair_len * 0.35), fpx), hair)
    light = u(-0.35, 0.35)  # side lighting
    shade = (1.0 + light * fx - 0.12 * fy).clip(0.6, 1.3)[..., None]
    paint(_soft(_ellipse_sd(fx, fy, 0, 0, 1, 1), fpx), np.clip(skin * shade, 0, 1))
    # fringe over the forehead
    fringe = u(-0.95, -0.55)
    paint(_soft(_ellipse_sd(fx, fy, 0.0, fringe - 0.45, 1.05, 0.55), fpx) * (fy < 0), hair)

    iris = pick([(60, 40, 20), (40, 90, 160), (60, 120, 60), (110, 80, 40)])
    ex, ey = u(0.34, 0.44), u(-0.18, -0.06)
    erx, ery = u(0.17, 0.23), u(0.1, 0.14)
    gaze = u(-0.05, 0.05)
    brow_lift = u(0.14, 0.26)
    for side in (-1.0, 1.0):
        paint(_soft(_ellipse_sd(fx, fy, side * ex, ey, erx, ery), fpx), np.array([0.95, 0.95, 0.95]))
        paint(_soft(_ellipse_sd(fx, fy, side * ex + gaze, ey, ery * 0.9, ery * 0.9), fpx), iris)
        paint(_soft(_ellipse_sd(fx, fy, side * ex + gaze, ey, ery * 0.4, ery * 0.4), fpx), np.array([0.03] * 3))
        paint(_soft(_ellipse_sd(fx, fy, side * ex, ey - brow_lift, erx * 1.1, 0.05), fpx), hair * 0.7)
    # nose: a darker, short vertical ellipse
    paint(_soft(_ellipse_sd(fx, fy, 0.0, u(0.12, 0.22), u(0.06, 0.1), u(0.1, 0.16)), fpx) * 0.6, skin * 0.7)
    # mouth: a curved band; smile > 0 curves up at the corners
    my, mw, mh, smile = u(0.42, 0.56), u(0.22, 0.36), u(0.05, 0.09), u(-0.6, 1.2)
    lips = pick([(150, 40, 45), (185, 65, 70), (120, 35, 45), (100, 45, 40)])
    band = np.abs(fy - (my - smile * (fx**2) * 0.5)) - mh
    paint(_soft(np.maximum(band, np.abs(fx) - mw), fpx), lips)

    img += rng.standard_normal(size=img.shape, dtype=np.float32) * 0.012  # a little sensor noise
    return (np.clip(img, 0, 1) * 255 + 0.5).astype(np.uint8)
