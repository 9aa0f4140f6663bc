"""Pillow images for the simulated Midjourney: 2×2 grids, single images and previews.

Every picture depends only on (prompt, seed, quadrant), so a test can render it again and
compare bytes. Quadrant n of a grid has the same pixels as the single image "Image #n".
"""

from __future__ import annotations

import asyncio
import hashlib
import io
import random
from dataclasses import dataclass

from PIL import Image, ImageDraw, ImageFilter, ImageFont


@dataclass(frozen=True, slots=True)
class RenderedImage:
    """Encoded image bytes with their pixel size."""

    data: bytes
    width: int
    height: int
    content_type: str


def grid_size(aspect: tuple[int, int], long_side: int) -> tuple[int, int]:
    """Return the (width, height) of a grid in ``aspect`` whose long side is ``long_side``."""
    ratio_w, ratio_h = aspect
    width: float
    height: float
    if ratio_w >= ratio_h:
        width, height = long_side, long_side * ratio_h / ratio_w
    else:
        width, height = long_side * ratio_w / ratio_h, long_side
    # Even sides so the grid splits into four equal quadrants.
    return max(2, round(width / 2) * 2), max(2, round(height / 2) * 2)


def draw_tile(prompt: str, seed: int, index: int, size: tuple[int, int]) -> Image.Image:
    """Draw image ``index`` (1–4) of a job: a gradient, some shapes and the number."""
    digest = hashlib.sha256(f"{seed}\x00{index}\x00{prompt}".encode()).digest()
    rng = random.Random(digest)  # noqa: S311 - pictures, not secrets
    width, height = size

    start = tuple(rng.randrange(256) for _ in range(3))
    end = tuple(rng.randrange(256) for _ in range(3))
    gradient = Image.linear_gradient("L").resize((width, height))
    tile = Image.composite(Image.new("RGB", size, end), Image.new("RGB", size, start), gradient)

    draw = ImageDraw.Draw(tile)
    for _ in range(rng.randint(3, 7)):
        x0, y0 = rng.randrange(width), rng.randrange(height)
        x1, y1 = (
            x0 + rng.randint(width // 10, width // 2),
            y0 + rng.randint(height // 10, height // 2),
        )
        color = tuple(rng.randrange(256) for _ in range(3))
        if rng.random() < 0.5:
            draw.ellipse((x0, y0, x1, y1), fill=color)
        else:
            draw.rectangle((x0, y0, x1, y1), fill=color, outline=(0, 0, 0))

    font = ImageFont.load_default(size=max(12, min(width, height) // 3))
    draw.text(
        (width / 2, height / 2),
        str(index),
        fill=(255, 255, 255),
        font=font,
        anchor="mm",
        stroke_width=max(1, min(width, height) // 60),
        stroke_fill=(0, 0, 0),
    )
    return tile


def compose_grid(prompt: str, seed: int, aspect: tuple[int, int], long_side: int) -> Image.Image:
    """Place images 1–4 of a job in a 2×2 grid: 1 2 on top, 3 4 below."""
    width, height = grid_size(aspect, long_side)
    tile_size = (width // 2, height // 2)
    grid = Image.new("RGB", (width, height))
    for index in range(1, 5):
        column, row = (index - 1) % 2, (index - 1) // 2
        grid.paste(
            draw_tile(prompt, seed, index, tile_size), (column * tile_size[0], row * tile_size[1])
        )
    return grid


def encode_png(image: Image.Image) -> RenderedImage:
    """Encode ``image`` as PNG."""
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return RenderedImage(buffer.getvalue(), image.width, image.height, "image/png")


def render_grid_png(
    prompt: str, seed: int, aspect: tuple[int, int], long_side: int
) -> RenderedImage:
    """Render the final 2×2 grid of a job as PNG."""
    return encode_png(compose_grid(prompt, seed, aspect, long_side))


def render_single_png(
    prompt: str, seed: int, aspect: tuple[int, int], long_side: int, index: int
) -> RenderedImage:
    """Render "Image #index" of a job: one quadrant of its grid at the same size."""
    width, height = grid_size(aspect, long_side)
    return encode_png(draw_tile(prompt, seed, index, (width // 2, height // 2)))


def render_preview_webp(
    prompt: str, seed: int, aspect: tuple[int, int], long_side: int, percent: int
) -> RenderedImage:
    """Render the half-size, blurred webp preview shown while a job is at ``percent``."""
    grid = compose_grid(prompt, seed, aspect, long_side)
    preview = grid.resize((max(2, grid.width // 2), max(2, grid.height // 2)))
    radius = max(0.0, (100 - percent) / 12)
    preview = preview.filter(ImageFilter.GaussianBlur(radius))
    buffer = io.BytesIO()
    preview.save(buffer, format="WEBP", quality=60)
    return RenderedImage(buffer.getvalue(), preview.width, preview.height, "image/webp")


async def render_grid(
    prompt: str, seed: int, aspect: tuple[int, int], long_side: int
) -> RenderedImage:
    """Render the final grid in a worker thread."""
    return await asyncio.to_thread(render_grid_png, prompt, seed, aspect, long_side)


async def render_single(
    prompt: str, seed: int, aspect: tuple[int, int], long_side: int, index: int
) -> RenderedImage:
    """Render one image of a grid in a worker thread."""
    return await asyncio.to_thread(render_single_png, prompt, seed, aspect, long_side, index)


async def render_preview(
    prompt: str, seed: int, aspect: tuple[int, int], long_side: int, percent: int
) -> RenderedImage:
    """Render a progress preview in a worker thread."""
    return await asyncio.to_thread(render_preview_webp, prompt, seed, aspect, long_side, percent)
