"""Cut Midjourney's 2×2 grids into their four images."""

from __future__ import annotations

import asyncio
import io
from dataclasses import dataclass

from PIL import Image


@dataclass(frozen=True, slots=True)
class GridPart:
    """One quarter of a grid, numbered like Midjourney's U buttons (1 top left, 4 bottom right)."""

    index: int
    data: bytes
    width: int
    height: int


@dataclass(frozen=True, slots=True)
class ImageSize:
    """Pixel size of an image file."""

    width: int
    height: int


async def split_grid(data: bytes) -> list[GridPart]:
    """Split a grid image into four PNG images, off the event loop."""
    return await asyncio.to_thread(split_grid_sync, data)


async def measure_image(data: bytes) -> ImageSize:
    """Read the pixel size of an image file, off the event loop."""
    return await asyncio.to_thread(measure_image_sync, data)


def split_grid_sync(data: bytes) -> list[GridPart]:
    """Split a grid into four PNGs; an odd size gives the extra pixel to the right or bottom."""
    with Image.open(io.BytesIO(data)) as grid:
        grid.load()
        width, height = grid.size
        half_width, half_height = width // 2, height // 2
        boxes = (
            (0, 0, half_width, half_height),
            (half_width, 0, width, half_height),
            (0, half_height, half_width, height),
            (half_width, half_height, width, height),
        )
        parts = []
        for index, box in enumerate(boxes, start=1):
            quarter = grid.crop(box)
            buffer = io.BytesIO()
            quarter.save(buffer, format="PNG")
            parts.append(GridPart(index, buffer.getvalue(), quarter.width, quarter.height))
    return parts


def measure_image_sync(data: bytes) -> ImageSize:
    """Read the pixel size of an image file without decoding its pixels."""
    with Image.open(io.BytesIO(data)) as image:
        return ImageSize(*image.size)
