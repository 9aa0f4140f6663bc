import pytest

from pipeline.batches import prompt_with_speed


@pytest.mark.parametrize(
    ("prompt", "row_mode", "batch_mode", "expected"),
    [
        ("a fox --ar 3:2", "", "fast", ("a fox --ar 3:2", "fast")),
        ("a fox", "relax", "fast", ("a fox --relax", "relax")),
        ("a fox", "fast", "relax", ("a fox --fast", "fast")),
        ("a fox", "", "turbo", ("a fox --turbo", "turbo")),
        ("a fox --relax --ar 1:1", "turbo", "fast", ("a fox --relax --ar 1:1", "relax")),
        ("a fox --turbo", "", "fast", ("a fox --turbo", "turbo")),
    ],
)
def test_prompt_carries_the_chosen_speed(prompt, row_mode, batch_mode, expected):
    assert prompt_with_speed(prompt, row_mode, batch_mode) == expected
