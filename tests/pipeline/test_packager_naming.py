"""Archive names of result images: scheme, Windows and ZIP safety, uniqueness."""

from __future__ import annotations

from dataclasses import replace

import pytest

from pipeline.packager.naming import (
    ImageRef,
    assign_archive_names,
    check_archive_name,
    safe_folder,
    safe_segment,
    slugify,
)
from storage.models import ImageKind

BASE = ImageRef(
    image_id=1,
    row_number=7,
    filename="",
    folder="landscapes",
    prompt="https://example.com/ref.png Misty valley at dawn, soft light --ar 16:9 --v 6",
    permutation=0,
    repeat=0,
    kind=ImageKind.GRID,
    index=0,
    blob_key="batches/1/a/grid.png",
)


def name_of(**changes: object) -> str:
    ref = replace(BASE, **changes)  # type: ignore[arg-type]
    return assign_archive_names([ref])[ref.image_id]


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({}, "landscapes/007-misty-valley-at-dawn-soft-light_grid.png"),
        (
            {"kind": ImageKind.UPSCALE, "index": 2},
            "landscapes/007-misty-valley-at-dawn-soft-light_U2.png",
        ),
        (
            {"kind": ImageKind.QUADRANT, "index": 3},
            "landscapes/007-misty-valley-at-dawn-soft-light_3.png",
        ),
        (
            {"kind": ImageKind.VARIATION, "index": 1},
            "landscapes/007-misty-valley-at-dawn-soft-light_V1.png",
        ),
        ({"repeat": 2}, "landscapes/007-misty-valley-at-dawn-soft-light_r2_grid.png"),
        (
            {"permutation": 2, "repeat": 3, "kind": ImageKind.UPSCALE, "index": 1},
            "landscapes/007-misty-valley-at-dawn-soft-light_p2_r3_U1.png",
        ),
        ({"filename": "Hero Shot.PNG", "folder": ""}, "007-Hero Shot_grid.png"),
        (
            {"blob_key": "b/1/grid.webp", "folder": "a/b"},
            "a/b/007-misty-valley-at-dawn-soft-light_grid.webp",
        ),
        ({"blob_key": "b/1/grid.exe"}, "landscapes/007-misty-valley-at-dawn-soft-light_grid.png"),
        ({"row_number": 1234, "folder": ""}, "1234-misty-valley-at-dawn-soft-light_grid.png"),
    ],
)
def test_naming_scheme(changes: dict[str, object], expected: str) -> None:
    assert name_of(**changes) == expected


@pytest.mark.parametrize(
    ("filename", "folder", "expected"),
    [
        ("../../etc/passwd", "", "007-etc-passwd_grid.png"),
        ("x", "../../etc", "etc/007-x_grid.png"),
        ("x", "/abs/path", "abs/path/007-x_grid.png"),
        ("x", "..\\..\\Windows\\System32", "Windows/System32/007-x_grid.png"),
        ("CON", "", "007-CON_grid.png"),
        ("x", "CON", "_CON/007-x_grid.png"),
        ("x", "nul.txt", "_nul.txt/007-x_grid.png"),
        ("x", "com1", "_com1/007-x_grid.png"),
        ("x", "LPT9 ", "_LPT9/007-x_grid.png"),
        ("a:b", "", "007-a-b_grid.png"),
        ('q<u>o"t|e?s*', "", "007-q-u-o-t-e-s_grid.png"),
        ("tab\there", "", "007-tab-here_grid.png"),
        ("trailing dots...", "folder. . ", "folder/007-trailing dots_grid.png"),
        ("", "C:\\Users\\me", "C/Users/me/007-misty-valley-at-dawn-soft-light_grid.png"),
        ("...", "..", "007-misty-valley-at-dawn-soft-light_grid.png"),
    ],
)
def test_hostile_cells_give_safe_names(filename: str, folder: str, expected: str) -> None:
    name = name_of(filename=filename, folder=folder)

    assert name == expected
    assert check_archive_name(name) == name


def test_long_values_are_shortened() -> None:
    name = name_of(filename="x" * 300, folder="/".join(["f" * 100] * 10))

    folder_segments = name.split("/")[:-1]
    assert folder_segments == ["f" * 50] * 3
    assert name.split("/")[-1] == f"007-{'x' * 60}_grid.png"
    assert len(name) <= 250


def test_long_prompt_slug_cuts_at_word() -> None:
    slug = slugify("word " * 40)

    assert len(slug) <= 60
    assert slug.endswith("word")
    assert "--" not in slug


@pytest.mark.parametrize(
    ("prompt", "expected"),
    [
        ("Café crème — --ar 2:3", "cafe-creme"),
        ("<https://s.mj.run/abc> a fox \u2014stylize 200", "a-fox"),
        ("日本の風景 --niji 6", "image"),
        ("", "image"),
        ("A  {red, blue}  bird!!", "a-red-blue-bird"),
    ],
)
def test_slug_is_ascii(prompt: str, expected: str) -> None:
    assert slugify(prompt) == expected


def test_names_are_unique_ignoring_case() -> None:
    refs = [
        replace(BASE, image_id=1, filename="Hero", folder=""),
        replace(BASE, image_id=2, filename="hero", folder=""),
        replace(BASE, image_id=3, filename="HERO", folder=""),
    ]

    names = assign_archive_names(refs)

    assert names == {1: "007-Hero_grid.png", 2: "007-hero_grid~2.png", 3: "007-HERO_grid~3.png"}


def test_reserved_names_are_avoided() -> None:
    ref = replace(BASE, filename="report", folder="", row_number=1)

    names = assign_archive_names([ref], reserved=["001-REPORT_grid.png"])

    assert names[ref.image_id] == "001-report_grid~2.png"


def test_file_never_takes_folder_name() -> None:
    file_ref = replace(BASE, image_id=1, row_number=1, filename="x", folder="")
    folder_ref = replace(BASE, image_id=2, row_number=2, filename="y", folder="001-x_grid.png")

    names = assign_archive_names([file_ref, folder_ref])

    assert names[2] == "001-x_grid.png/002-y_grid.png"
    assert names[1] == "001-x_grid~2.png"


def test_names_sort_by_row_number() -> None:
    refs = [
        replace(BASE, image_id=i, row_number=row) for i, row in enumerate((10, 9, 100), start=1)
    ]

    names = assign_archive_names(refs)

    assert sorted(names.values()) == [names[2], names[1], names[3]]


@pytest.mark.parametrize("text", ["", " ", ".", "..", "...", " . "])
def test_empty_segment_vanishes(text: str) -> None:
    assert safe_segment(text, max_length=50) == ""


def test_folder_depth_is_capped() -> None:
    assert safe_folder("a/b/c/d/e") == ["a", "b", "c"]


@pytest.mark.parametrize(
    "name", ["", "/abs.png", "../x.png", "a/../x.png", "a\\x.png", "a//x.png", "a:b.png"]
)
def test_unsafe_archive_name_is_rejected(name: str) -> None:
    with pytest.raises(ValueError, match="unsafe archive name"):
        check_archive_name(name)
