"""Write examples/prompts.xlsx, the sheet `midjau demo` runs.

Run it from the repository root: ``.venv/bin/python examples/make_prompts.py``.

The sheet has what real prompt sheets contain: plain prompts, parameters in their own
columns and in the free parameters column, image prompts, upscales, repeats, a
permutation, folders, file names and a notes column MidJAu does not use. One row is
disabled. One row has a mistake (the misspelt ``--stylise``), so the demo shows a
validation error. The sheet makes 29 jobs, so the demo stays quick.
"""

from __future__ import annotations

from pathlib import Path

from openpyxl import Workbook

from pipeline.intake.template import fill_prompt_sheet

HEADERS = (
    "prompt",
    "image_urls",
    "parameters",
    "aspect_ratio",
    "stylize",
    "version",
    "upscale",
    "repeat",
    "filename",
    "folder",
    "enabled",
    "notes",
)

ROWS: tuple[dict[str, object], ...] = (
    {"prompt": "a lighthouse on a rocky cliff at dawn, watercolor", "aspect_ratio": "16:9",
     "stylize": 250, "upscale": "U1", "filename": "lighthouse", "folder": "landscapes"},
    {"prompt": "misty pine forest at sunrise, cinematic lighting", "aspect_ratio": "21:9",
     "folder": "landscapes"},
    {"prompt": "a desert canyon under a starry night sky, long exposure",
     "parameters": "--chaos 15", "aspect_ratio": "3:2", "upscale": "U1, U3",
     "folder": "landscapes"},
    {"prompt": "alpine lake reflecting snowy peaks, oil painting", "stylize": 400,
     "folder": "landscapes"},
    {"prompt": "product photo of a {red, blue} ceramic mug on an oak table",
     "parameters": "--style raw", "aspect_ratio": "1:1", "upscale": "all",
     "folder": "products/mugs", "notes": "one job per colour"},
    {"prompt": "minimalist perfume bottle on white marble, soft shadows",
     "parameters": "--style raw --s 50", "aspect_ratio": "4:5", "folder": "products"},
    {"prompt": "wireless headphones floating on a pastel background, studio lighting",
     "aspect_ratio": "1:1", "filename": "headphones", "folder": "products"},
    {"prompt": "hand-thrown ceramic vase with a speckled glaze, natural window light",
     "image_urls": "https://example.com/refs/vase-shape.png", "folder": "products"},
    {"prompt": "portrait of an elderly fisherman, weathered face, golden hour",
     "aspect_ratio": "2:3", "version": 7, "upscale": "U2", "folder": "portraits"},
    {"prompt": "a young astronaut reading a book in a greenhouse, film photo",
     "parameters": "--no text, logo", "aspect_ratio": "2:3", "repeat": 2,
     "folder": "portraits"},
    {"prompt": "character sheet of a friendly robot mechanic, front and side views",
     "parameters": "--niji 6", "folder": "characters"},
    {"prompt": "a fox spirit in a lantern-lit shrine", "version": "niji 6",
     "folder": "characters", "notes": "anime model"},
    {"prompt": "in the style of a vintage travel poster",
     "image_urls": "https://example.com/refs/city-skyline.png", "aspect_ratio": "2:3",
     "folder": "posters"},
    {"prompt": "both scenes blended at dusk",
     "image_urls": "https://example.com/refs/harbor.png, https://example.com/refs/market.png",
     "folder": "posters"},
    {"prompt": "seamless pattern of lemons and leaves, flat illustration",
     "parameters": "--tile", "filename": "lemons-tile", "folder": "patterns"},
    {"prompt": "seamless terrazzo texture in muted earth tones",
     "parameters": "--tile --s 100", "folder": "patterns"},
    {"prompt": "logo concept for a coffee roastery, a bean shaped like a mountain, vector",
     "parameters": "--no gradient, photo", "stylize": 100, "folder": "branding"},
    {"prompt": "isometric cozy bookstore interior, warm light, tiny details",
     "parameters": "--seed 1234567890", "aspect_ratio": "1:1", "repeat": 2,
     "folder": "illustration"},
    {"prompt": "children's book illustration of a bear learning to ride a bicycle",
     "aspect_ratio": "4:3", "upscale": "U4", "folder": "illustration"},
    {"prompt": "editorial photo of a rainy Tokyo street at night, neon reflections",
     "parameters": "--chaos 30", "aspect_ratio": "16:9", "version": 7, "folder": "editorial"},
    {"prompt": "flat lay of breakfast on a linen tablecloth, overhead shot",
     "aspect_ratio": "4:5", "folder": "food"},
    {"prompt": "a bowl of ramen with steam rising, macro photo", "aspect_ratio": "1:1",
     "stylize": 150, "filename": "ramen", "folder": "food"},
    {"prompt": "a glass greenhouse on the moon, concept art", "parameters": "--chaos 40",
     "aspect_ratio": "16:9", "upscale": "none", "folder": "concept"},
    {"prompt": "winter campaign hero image, snowy village, holiday lights",
     "aspect_ratio": "16:9", "folder": "campaigns", "enabled": "no",
     "notes": "waiting for the client's brief"},
    {"prompt": "a vintage motorcycle in a sunlit garage, 35mm photo",
     "parameters": "--stylise 400", "aspect_ratio": "3:2", "folder": "editorial",
     "notes": "misspelt parameter: the demo shows this row as invalid"},
    {"prompt": "a hummingbird sipping from a hibiscus flower, high-speed photo",
     "aspect_ratio": "3:2", "folder": "wildlife"},
    {"prompt": "snow leopard on a rocky ledge, telephoto, morning haze",
     "aspect_ratio": "3:2", "version": 7, "upscale": "U1, U2", "folder": "wildlife"},
    {"prompt": "a cozy cabin interior with a fireplace, hygge", "aspect_ratio": "4:3",
     "filename": "cabin", "folder": "interiors"},
)  # fmt: skip


def main() -> None:
    """Write prompts.xlsx next to this script."""
    workbook = Workbook()
    sheet = workbook.active
    assert sheet is not None  # a new Workbook always has one sheet
    fill_prompt_sheet(sheet, HEADERS, ROWS)
    path = Path(__file__).with_name("prompts.xlsx")
    workbook.save(path)
    print(f"wrote {path} ({len(ROWS)} rows)")


if __name__ == "__main__":
    main()
