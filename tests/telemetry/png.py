"""Pixels of a colour in a screenshot, read with Pillow (decoding the PNG in Python, a byte at
a time, was seconds of CPU a run)."""

from __future__ import annotations

from pathlib import Path


def count_colour(path: Path, rgb: tuple[int, int, int], tolerance: int = 8) -> int:
    """How many pixels of the PNG at ``path`` are within ``tolerance`` of ``rgb`` in each channel."""
    from PIL import Image

    with Image.open(path) as img:
        rgb_img = img.convert("RGB")
        colours = rgb_img.getcolors(maxcolors=rgb_img.width * rgb_img.height) or []
    return sum(n for n, c in colours if all(abs(c[k] - rgb[k]) <= tolerance for k in range(3)))
