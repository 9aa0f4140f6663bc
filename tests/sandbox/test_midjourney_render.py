"""The simulated Midjourney's Pillow images: deterministic, in the asked aspect ratio."""

from __future__ import annotations

import io

import pytest
from PIL import Image, ImageChops

from sandbox.midjourney import render


def _open(data: bytes) -> Image.Image:
    return Image.open(io.BytesIO(data))


def test_grid_is_deterministic_for_prompt_and_seed() -> None:
    first = render.render_grid_png("red fox", 42, (1, 1), 256)
    second = render.render_grid_png("red fox", 42, (1, 1), 256)

    assert first.data == second.data


def test_grid_changes_with_seed_and_prompt() -> None:
    base = render.render_grid_png("red fox", 42, (1, 1), 256).data

    assert render.render_grid_png("red fox", 43, (1, 1), 256).data != base
    assert render.render_grid_png("blue fox", 42, (1, 1), 256).data != base


@pytest.mark.parametrize(
    ("aspect", "expected"),
    [((1, 1), (512, 512)), ((16, 9), (512, 288)), ((2, 3), (342, 512)), ((9, 16), (288, 512))],
)
def test_grid_has_requested_aspect_ratio(
    aspect: tuple[int, int], expected: tuple[int, int]
) -> None:
    grid = render.render_grid_png("city at night", 7, aspect, 512)
    image = _open(grid.data)

    assert image.format == "PNG"
    assert (image.width, image.height) == expected
    assert (grid.width, grid.height) == expected


def test_grid_quadrants_differ_from_each_other() -> None:
    image = _open(render.render_grid_png("mountain lake", 1, (3, 2), 384).data).convert("RGB")
    half_w, half_h = image.width // 2, image.height // 2
    quadrants = [
        image.crop((x, y, x + half_w, y + half_h)).tobytes()
        for y in (0, half_h)
        for x in (0, half_w)
    ]

    assert len(set(quadrants)) == 4


def test_single_image_equals_its_grid_quadrant() -> None:
    grid = _open(render.render_grid_png("lighthouse", 5, (16, 9), 512).data).convert("RGB")
    single = _open(render.render_single_png("lighthouse", 5, (16, 9), 512, 4).data).convert("RGB")
    quadrant = grid.crop((grid.width // 2, grid.height // 2, grid.width, grid.height))

    assert single.size == quadrant.size
    assert ImageChops.difference(single, quadrant).getbbox() is None


def test_preview_is_half_size_webp() -> None:
    preview = render.render_preview_webp("lighthouse", 5, (16, 9), 512, 46)
    image = _open(preview.data)

    assert image.format == "WEBP"
    assert preview.content_type == "image/webp"
    assert (image.width, image.height) == (256, 144)


async def test_render_grid_runs_in_a_thread() -> None:
    grid = await render.render_grid("harbour", 3, (1, 1), 128)

    assert grid.data == render.render_grid_png("harbour", 3, (1, 1), 128).data
