"""Build an ImageNet-like folder of real photographs for the loader benchmark: distinct JPEGs of 500x375 at
quality 90 (ImageNet's typical size and encoding), cut from any folder of photos.

Every output image is a random crop (a quarter to all of the source's area, aspect ratio 4:3) of a source photo,
resized to 500x375 with Lanczos, flipped at random and re-encoded; sources are cycled, so a few hundred photos give
thousands of distinct files. ``N`` classes of equal size in ``OUT/train/<class>/``.

    python benchmarks/make_jpeg_folder.py --source ../shared/data/coco-mini --out /tmp/jpeg-bench --images 2000
"""
from __future__ import annotations

import argparse
import random
from pathlib import Path

from PIL import Image

SIZE = (500, 375)


def build(source: Path, out: Path, images: int, classes: int, seed: int = 0) -> list[Path]:
    photos = sorted(p for p in source.rglob("*") if p.suffix.lower() in (".jpg", ".jpeg", ".png"))
    if not photos:
        raise FileNotFoundError(f"no .jpg/.jpeg/.png photos under {source}")
    rng = random.Random(seed)
    written = []
    for i in range(images):
        with Image.open(photos[i % len(photos)]) as photo:
            photo = photo.convert("RGB")
            w, h = photo.size
            area = rng.uniform(0.25, 1.0) * w * h
            cw = min(w, int((area * 4 / 3) ** 0.5))
            ch = min(h, int(cw * 3 / 4))
            x, y = rng.randint(0, w - cw), rng.randint(0, h - ch)
            image = photo.crop((x, y, x + cw, y + ch)).resize(SIZE, Image.Resampling.LANCZOS)
            if rng.random() < 0.5:
                image = image.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
        path = out / "train" / f"class_{i % classes:03d}" / f"image_{i:06d}.JPEG"
        path.parent.mkdir(parents=True, exist_ok=True)
        image.save(path, quality=90)
        written.append(path)
    return written


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--source", type=Path, required=True, help="a folder of photographs (searched recursively)")
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--images", type=int, default=2000)
    parser.add_argument("--classes", type=int, default=10)
    args = parser.parse_args()
    written = build(args.source, args.out, args.images, args.classes)
    print(f"wrote {len(written)} JPEGs of {SIZE[0]}x{SIZE[1]} to {args.out}/train")


if __name__ == "__main__":
    main()
