"""Write benchmarks/probes/private_style.png: a seeded, procedurally drawn style image that exists nowhere else (an
owner's private style for MOVE, ``--style PATH``; used by benchmarks/probes/move-fmnist-private-style.yaml).

Run: ``.venv/bin/python benchmarks/probes/private_style.py`` (deterministic: the same bytes every time);
``--seed 20261203 --out benchmarks/probes/private_style_2.png`` draws the second one
(benchmarks/probes/move-fmnist-private-style-2.yaml); ``--seed 20261204 --out benchmarks/probes/private_style_3.png``
the third (benchmarks/probes/move-fmnist-fresh-kits-*.yaml).
"""

from pathlib import Path

import numpy as np
from PIL import Image

OUT = Path(__file__).with_name("private_style.png")


def draw(seed: int = 20261202, size: int = 256) -> Image.Image:
    """Diagonal colour bands warped by low-frequency noise, with scattered dark strokes."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:size, 0:size] / size
    warp = sum(rng.uniform(0.05, 0.2) * np.sin(2 * np.pi * (rng.uniform(1, 4) * xx + rng.uniform(1, 4) * yy)
                                               + rng.uniform(0, 2 * np.pi)) for _ in range(4))
    phase = (xx + yy + warp) * rng.uniform(6, 10)
    palette = rng.uniform(0, 255, size=(5, 3))
    band = np.floor(phase).astype(int) % len(palette)
    img = palette[band] * (0.75 + 0.25 * np.sin(2 * np.pi * phase))[..., None]
    for _ in range(60):  # short dark strokes
        x0, y0 = rng.integers(0, size, 2)
        angle, length = rng.uniform(0, np.pi), rng.integers(10, 40)
        for t in range(length):
            x, y = int(x0 + t * np.cos(angle)) % size, int(y0 + t * np.sin(angle)) % size
            img[max(0, y - 1):y + 2, max(0, x - 1):x + 2] *= 0.3
    return Image.fromarray(np.clip(img, 0, 255).astype(np.uint8))


if __name__ == "__main__":
    import argparse

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seed", type=int, default=20261202)
    ap.add_argument("--out", type=Path, default=OUT)
    args = ap.parse_args()
    draw(args.seed).save(args.out, optimize=True)
    print(args.out)
