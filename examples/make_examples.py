"""Regenerate the example photos in this folder from the public-domain NASA portrait of
astronaut Eileen Collins that scikit-image ships as ``skimage/data/astronaut.png``.

    python examples/make_examples.py path/to/astronaut.png [--outdir examples] [--overwrite]

(Get the file with ``pip download scikit-image --no-deps`` and unzip it from the wheel, or
``python -c "import skimage.data, imageio; imageio.imwrite('astronaut.png', skimage.data.astronaut())"``.)
Every degradation uses hiface's own simulator with fixed parameters/seeds, so the output is
reproducible.
"""
from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from hiface.degrade import ops
from hiface.io import read_image, write_image


def old_photo(img: np.ndarray, *, seed: int, blur: float, scale: float, noise: float, quality: int,
              tint: tuple[float, float, float] = (1.0, 1.0, 1.0), fade: float = 0.0) -> np.ndarray:
    """Blur → downsample and back → colour tint/fade → Gaussian noise → JPEG (float pipeline)."""
    rng = np.random.default_rng(seed)
    x = ops.to_float(img)
    x = ops.gaussian_blur(x, blur)
    x = ops.downsample(x, scale, "bicubic", "bicubic")
    x = np.clip(x * np.asarray(tint, np.float32), 0, 1)
    if fade:
        x = x * (1 - fade) + fade * 0.55  # lifted blacks, dull whites
    x = ops.gaussian_noise(x, noise, rng)
    x = ops.jpeg(x, quality)
    return ops.from_float(x)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("astronaut", type=Path)
    ap.add_argument("--outdir", type=Path, default=Path(__file__).resolve().parent)
    ap.add_argument("--overwrite", action="store_true")
    a = ap.parse_args()
    src = read_image(a.astronaut).pixels  # (512, 512, 3)
    if src.shape != (512, 512, 3):
        raise SystemExit(f"expected the 512x512 scikit-image astronaut, got {src.shape}")
    w = dict(overwrite=a.overwrite, quality=92)

    # 1. whole portrait, old colour print: soft, grainy, JPEG-blocky, warm cast
    full = ops.resize(src, (384, 384), "area")
    write_image(a.outdir / "portrait_old.jpg",
                old_photo(full, seed=1, blur=1.2, scale=0.5, noise=9, quality=35, tint=(1.06, 0.98, 0.86)), **w)

    # 2. head and shoulders, grayscale and faded
    crop = ops.resize(src[0:360, 50:410], (320, 320), "area")
    gray = ops.grayscale(crop)
    write_image(a.outdir / "portrait_faded_gray.jpg",
                old_photo(gray, seed=2, blur=1.0, scale=0.6, noise=6, quality=40, fade=0.35)[..., 0], **w)

    # 3. a small "group": three differently scaled/degraded copies on one canvas
    h, wd = 360, 640
    yy, xx = np.mgrid[0:h, 0:wd].astype(np.float32)
    canvas = np.stack([200 - 40 * yy / h, 190 - 40 * yy / h, 170 - 30 * yy / h + 10 * xx / wd], -1)
    canvas = canvas.astype(np.uint8)
    head = src[0:300, 75:375]  # face centred
    people = [
        (ops.resize(head, (200, 200), "area"), (60, 20), dict(seed=3, blur=0.8, scale=0.5, noise=8, quality=45)),
        (ops.resize(head[:, ::-1], (160, 160), "area"), (150, 250), dict(seed=4, blur=1.5, scale=0.4, noise=12, quality=30)),
        (ops.resize(head, (130, 130), "area"), (190, 470), dict(seed=5, blur=0.6, scale=0.7, noise=5, quality=55)),
    ]
    for face, (y, x), kw in people:
        canvas[y:y + face.shape[0], x:x + face.shape[1]] = old_photo(face, **kw)
    canvas = old_photo(canvas, seed=6, blur=0.5, scale=0.9, noise=3, quality=70)
    write_image(a.outdir / "group.jpg", canvas, **w)

    # 4. a tiny low-resolution face (super-resolution case), lossless
    write_image(a.outdir / "face_tiny.png", ops.resize(head, (96, 96), "area"), overwrite=a.overwrite)


if __name__ == "__main__":
    main()
