"""Build an ImageNet-like folder of real photographs for the loader benchmark: distinct JPEGs of 500x375 at
quality 90 (ImageNet's typical size and encoding), cut from any folder of photos.

Every output image is a random crop (a quarter to all of the source's area, aspect ratio 4:3) of a source photo,
resized to 500x375 with Lanczos, flipped at random and re-encoded; sources are cycled, so a few hundred photos give
thousands of distinct files. ``N`` classes of equal size in ``OUT/train/<class>/``. The crops are drawn in one
sequence whatever ``--workers`` is, so the folder's bytes do not depend on how many processes encode it.

    python benchmarks/make_jpeg_folder.py --source $EFFICIENTTRAIN_DATA/coco-mini --out /tmp/jpeg-bench --images 2000
"""
from __future__ import annotations

import argparse
import random
from multiprocessing import Pool
from pathlib import Path
from typing import NamedTuple

from PIL import Image

SIZE = (500, 375)


class Cut(NamedTuple):
    """One output image: which photo, which box of it, flipped or not, and where it goes."""
    photo: Path
    box: tuple[int, int, int, int]
    flip: bool
    path: Path


def plan(source: Path, out: Path, images: int, classes: int, seed: int = 0) -> list[Cut]:
    photos = sorted(p for p in source.rglob("*") if p.suffix.lower() in (".jpg", ".jpeg", ".png"))
    if not photos:
        raise FileNotFoundError(f"no .jpg/.jpeg/.png photos under {source}")
    sizes = {}
    rng = random.Random(seed)
    cuts = []
    for i in range(images):
        photo = photos[i % len(photos)]
        if photo not in sizes:
            with Image.open(photo) as image:  # the header only
                sizes[photo] = image.size
        w, h = sizes[photo]
        area = rng.uniform(0.25, 1.0) * w * h
        cw = min(w, int((area * 4 / 3) ** 0.5))
        ch = min(h, int(cw * 3 / 4))
        x, y = rng.randint(0, w - cw), rng.randint(0, h - ch)
        flip = rng.random() < 0.5
        cuts.append(Cut(photo, (x, y, x + cw, y + ch), flip,
                        out / "train" / f"class_{i % classes:03d}" / f"image_{i:06d}.JPEG"))
    return cuts


def write(cut: Cut) -> Path:
    with Image.open(cut.photo) as photo:
        image = photo.convert("RGB").crop(cut.box).resize(SIZE, Image.Resampling.LANCZOS)
    if cut.flip:
        image = image.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
    cut.path.parent.mkdir(parents=True, exist_ok=True)
    image.save(cut.path, quality=90)
    return cut.path


def build(source: Path, out: Path, images: int, classes: int, seed: int = 0, workers: int = 0) -> list[Path]:
    """Write the folder; ``workers`` processes encode it (0: this process)."""
    cuts = plan(source, out, images, classes, seed)
    if workers == 0:
        return [write(cut) for cut in cuts]
    with Pool(workers) as pool:
        return pool.map(write, cuts, chunksize=16)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--source", type=Path, required=True, help="a folder of photographs (searched recursively)")
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--images", type=int, default=2000)
    parser.add_argument("--classes", type=int, default=10)
    parser.add_argument("--workers", type=int, default=0, help="processes that encode (0: this one)")
    args = parser.parse_args()
    written = build(args.source, args.out, args.images, args.classes, workers=args.workers)
    print(f"wrote {len(written)} JPEGs of {SIZE[0]}x{SIZE[1]} to {args.out}/train")


if __name__ == "__main__":
    main()
