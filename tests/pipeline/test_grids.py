"""Cutting grids into the four images of Midjourney's U1-U4 order."""

from __future__ import annotations

import io

import pytest
from PIL import Image

from pipeline.grids import measure_image, split_grid

COLOURS = [(255, 0, 0), (0, 255, 0), (0, 0, 255), (255, 255, 0)]


def grid_png(width: int, height: int) -> bytes:
    """Return a PNG whose quarters are red, green, blue and yellow (U1..U4)."""
    image = Image.new("RGB", (width, height))
    half_width, half_height = width // 2, height // 2
    boxes = [
        (0, 0, half_width, half_height),
        (half_width, 0, width, half_height),
        (0, half_height, half_width, height),
        (half_width, half_height, width, height),
    ]
    for box, colour in zip(boxes, COLOURS, strict=True):
        image.paste(colour, box)
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


@pytest.mark.parametrize(
    ("width", "height", "expected"),
    [
        (2048, 2048, [(1024, 1024)] * 4),
        (1456, 816, [(728, 408)] * 4),
        (101, 51, [(50, 25), (51, 25), (50, 26), (51, 26)]),
    ],
)
async def test_split_grid_sizes(width, height, expected):
    parts = await split_grid(grid_png(width, height))

    assert [(part.width, part.height) for part in parts] == expected
    for part in parts:
        with Image.open(io.BytesIO(part.data)) as image:
            assert image.format == "PNG"
            assert image.size == (part.width, part.height)


async def test_split_grid_keeps_u_button_order():
    parts = await split_grid(grid_png(200, 100))

    assert [part.index for part in parts] == [1, 2, 3, 4]
    for part, colour in zip(parts, COLOURS, strict=True):
        with Image.open(io.BytesIO(part.data)) as image:
            assert image.convert("RGB").getpixel((part.width // 2, part.height // 2)) == colour


async def test_measure_image_reads_size():
    size = await measure_image(grid_png(300, 120))

    assert (size.width, size.height) == (300, 120)
