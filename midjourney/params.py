"""Midjourney's prompt parameters: names, aliases, value kinds, ranges per model version.

The table follows Midjourney's parameter list as of September 2026. Midjourney changes it
without notice, so where its sources disagree the table takes the tolerant reading (the
wider range, the larger set of versions) and marks the spot with a NOTE.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

# The model a prompt without --v or --niji runs on. V8.2 became Midjourney's default on
# 2026-07-24 (V7 was the default from 2025-06-17, V8.1 from 2026-06-10).
DEFAULT_VERSION_NUMBER = (8, 2)
# Niji 7 launched on 2026-01-09; a bare --niji selects it.
DEFAULT_NIJI_NUMBER = 7

V_VERSIONS = ("1", "2", "3", "4", "5", "5.1", "5.2", "6", "6.1", "7", "8.1", "8.2")
NIJI_VERSIONS = ("4", "5", "6", "7")
# Versions Midjourney has withdrawn; the value maps to the message's suggested version.
RETIRED_VERSIONS = {"8": "8.2", "8.0": "8.2"}

_LATEST = (99, 0)


class ValueKind(StrEnum):
    """The shape of a parameter's value."""

    FLAG = "flag"  # no value
    INT = "int"  # whole number in a range
    FLOAT = "float"  # decimal number in a range, or one of a set of numbers
    RATIO = "ratio"  # whole-number width:height
    VERSION = "version"  # a model version number
    ENUM = "enum"  # one word of a fixed set
    URLS = "urls"  # one or more http(s) URLs
    REFERENCES = "references"  # URLs (optionally URL::weight), style codes or "random"
    TEXT = "text"  # free text, e.g. --no's comma-separated terms


@dataclass(frozen=True, slots=True, order=True)
class ModelVersion:
    """A Midjourney model: the main line ("v") or the anime line ("niji")."""

    family: str
    number: tuple[int, int]

    @property
    def label(self) -> str:
        """Return the name Midjourney's docs use, e.g. "V6.1" or "Niji 6"."""
        major, minor = self.number
        text = f"{major}.{minor}" if minor else str(major)
        return f"Niji {text}" if self.family == "niji" else f"V{text}"

    @property
    def is_niji(self) -> bool:
        """Whether this is a Niji model."""
        return self.family == "niji"


DEFAULT_VERSION = ModelVersion("v", DEFAULT_VERSION_NUMBER)


def parse_version_number(text: str) -> tuple[int, int]:
    """Turn "6.1" into (6, 1); raise ValueError on anything else."""
    major, _, minor = text.partition(".")
    return int(major), int(minor or 0)


@dataclass(frozen=True, slots=True)
class Support:
    """The model versions on which a rule applies (bounds included)."""

    v_min: tuple[int, int] | None = (1, 0)
    v_max: tuple[int, int] = _LATEST
    niji_min: int | None = 4
    niji_max: int = 99

    def allows(self, version: ModelVersion) -> bool:
        """Return whether ``version`` falls inside these bounds."""
        if version.is_niji:
            return self.niji_min is not None and self.niji_min <= version.number[0] <= self.niji_max
        return self.v_min is not None and self.v_min <= version.number <= self.v_max

    def describe(self) -> str:
        """Return the versions in words, e.g. "V6 to V6.1 and Niji 6"."""
        parts = []
        if self.v_min is not None:
            low, high = _v_label(self.v_min), _v_label(self.v_max)
            if self.v_max == _LATEST:
                parts.append("every version" if self.v_min == (1, 0) else f"{low} and later")
            elif low == high:
                parts.append(low)
            else:
                parts.append(f"{low} to {high}")
        if self.niji_min is not None:
            low = f"Niji {self.niji_min}"
            if self.niji_max == 99:
                parts.append("every Niji" if self.niji_min == 4 else f"{low} and later")
            elif self.niji_max == self.niji_min:
                parts.append(low)
            else:
                parts.append(f"{low} to Niji {self.niji_max}")
        return " and ".join(parts) or "no current version"


def _v_label(number: tuple[int, int]) -> str:
    # A minor of 99 marks "every point release of this major version".
    major, minor = number
    return f"V{major}" if minor in (0, 99) else f"V{major}.{minor}"


EVERY_VERSION = Support()


@dataclass(frozen=True, slots=True)
class Rule:
    """The values a parameter takes on the versions of ``support``."""

    support: Support = EVERY_VERSION
    minimum: float | None = None
    maximum: float | None = None
    choices: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class ParamSpec:
    """One Midjourney parameter.

    ``name`` is the canonical name used in problems and sheet columns; ``flag`` is the
    name written after ``--`` in the final prompt. The first rule whose versions include the
    prompt's model applies; a model no rule covers does not support the parameter.
    """

    name: str
    flag: str
    kind: ValueKind
    rules: tuple[Rule, ...] = (Rule(),)
    aliases: tuple[str, ...] = ()
    value_optional: bool = False
    max_items: int | None = None
    example: str = ""

    @property
    def names(self) -> tuple[str, ...]:
        """Return every name Midjourney accepts for this parameter."""
        return (self.flag, *self.aliases)

    def rule_for(self, version: ModelVersion) -> Rule | None:
        """Return the rule for ``version``, or None when the version lacks the parameter."""
        return next((rule for rule in self.rules if rule.support.allows(version)), None)

    def supported_versions(self) -> str:
        """Return the versions that support the parameter, in words."""
        return " and ".join(rule.support.describe() for rule in self.rules)


def _since(v_min: tuple[int, int] | None, niji_min: int | None = None) -> Support:
    return Support(v_min=v_min, niji_min=niji_min)


_BEFORE_V8 = (7, 99)  # every V7.x; V8.0 was withdrawn, so V8.1 is the next model
_V6_TO_V7 = Support(v_min=(6, 0), v_max=_BEFORE_V8, niji_min=6)

PARAMETERS: tuple[ParamSpec, ...] = (
    ParamSpec(
        "aspect_ratio",
        "ar",
        ValueKind.RATIO,
        rules=(
            Rule(Support(v_max=(3, 0), niji_min=None), minimum=0.4, maximum=2.5),
            Rule(Support(v_min=(4, 0), v_max=(4, 0), niji_min=None), minimum=0.5, maximum=2.0),
            Rule(),
        ),
        aliases=("aspect",),
        example="--ar 16:9",
    ),
    ParamSpec(
        "version",
        "v",
        ValueKind.VERSION,
        rules=(Rule(choices=V_VERSIONS),),
        aliases=("version",),
        example="--v 7",
    ),
    ParamSpec(
        "niji",
        "niji",
        ValueKind.VERSION,
        rules=(Rule(choices=NIJI_VERSIONS),),
        value_optional=True,
        example="--niji 7",
    ),
    # NOTE: V3 took --stylize 625-60000; the table accepts 0-60000 there instead of
    # rejecting values that old prompts still use.
    ParamSpec(
        "stylize",
        "s",
        ValueKind.INT,
        rules=(
            Rule(Support(v_max=(3, 0), niji_min=None), minimum=0, maximum=60000),
            Rule(minimum=0, maximum=1000),
        ),
        aliases=("stylize",),
        example="--s 250",
    ),
    ParamSpec(
        "chaos", "c", ValueKind.INT, (Rule(minimum=0, maximum=100),), ("chaos",), example="--c 20"
    ),
    # NOTE: sources disagree on --q for V7 (1/2/4, 1/2, or .25/.5/1/4); the table accepts
    # all of them. V8.x has no --q at all.
    ParamSpec(
        "quality",
        "q",
        ValueKind.FLOAT,
        rules=(
            Rule(Support(v_max=(4, 0), niji_min=None), choices=("0.25", "0.5", "1", "2")),
            Rule(
                Support(v_min=(5, 0), v_max=(6, 1), niji_min=4, niji_max=6),
                choices=("0.25", "0.5", "1"),
            ),
            Rule(
                Support(v_min=(7, 0), v_max=_BEFORE_V8, niji_min=7),
                choices=("0.25", "0.5", "1", "2", "4"),
            ),
        ),
        aliases=("quality",),
        example="--q 1",
    ),
    ParamSpec(
        "seed", "seed", ValueKind.INT, (Rule(minimum=0, maximum=4294967295),), example="--seed 1234"
    ),
    ParamSpec("stop", "stop", ValueKind.INT, (Rule(minimum=10, maximum=100),), example="--stop 80"),
    ParamSpec("tile", "tile", ValueKind.FLAG, example="--tile"),
    ParamSpec("no", "no", ValueKind.TEXT, example="--no text, watermark"),
    # NOTE: the accepted --iw range is 0-3 on V7/V8.x and 0-2 on Niji 7; older versions are
    # documented only loosely (about 0.5-2), so they get the wider 0-3 as well.
    ParamSpec(
        "iw",
        "iw",
        ValueKind.FLOAT,
        rules=(
            Rule(Support(v_min=None, niji_min=7), minimum=0, maximum=2),
            Rule(minimum=0, maximum=3),
        ),
        example="--iw 1.5",
    ),
    # NOTE: besides these words, --style accepts old /tune style codes (checked by shape).
    ParamSpec(
        "style",
        "style",
        ValueKind.ENUM,
        rules=(
            Rule(Support(v_min=(4, 0), v_max=(4, 0), niji_min=None), choices=("4a", "4b", "4c")),
            Rule(
                Support(v_min=None, niji_min=5, niji_max=5),
                choices=("cute", "expressive", "original", "scenic"),
            ),
            Rule(Support(v_min=(5, 1), niji_min=6), choices=("raw",)),
        ),
        example="--style raw",
    ),
    ParamSpec(
        "raw", "raw", ValueKind.FLAG, (Rule(Support(v_min=(5, 1), niji_min=6)),), example="--raw"
    ),
    ParamSpec(
        "sref",
        "sref",
        ValueKind.REFERENCES,
        (Rule(_since((6, 0), 6)),),
        example="--sref 1234567890",
    ),
    ParamSpec("sw", "sw", ValueKind.INT, (Rule(_since((6, 0), 6), 0, 1000),), example="--sw 200"),
    # NOTE: sources give --sv as 1-6 or only 4; the wider 1-6 is accepted, from V6 on.
    ParamSpec("sv", "sv", ValueKind.INT, (Rule(_since((6, 0), 6), 1, 6),), example="--sv 4"),
    ParamSpec(
        "cref",
        "cref",
        ValueKind.URLS,
        (Rule(Support(v_min=(6, 0), v_max=(6, 1), niji_min=6, niji_max=6)),),
        example="--cref https://example.com/face.png",
    ),
    ParamSpec(
        "cw",
        "cw",
        ValueKind.INT,
        (Rule(Support(v_min=(6, 0), v_max=(6, 1), niji_min=6, niji_max=6), 0, 100),),
        example="--cw 50",
    ),
    ParamSpec(
        "oref",
        "oref",
        ValueKind.URLS,
        (Rule(Support(v_min=(7, 0), v_max=_BEFORE_V8, niji_min=None)),),
        max_items=1,
        example="--oref https://example.com/object.png",
    ),
    # NOTE: the launch post gave --ow 0-1000 and the docs 1-1000; 0-1000 is accepted.
    ParamSpec(
        "ow",
        "ow",
        ValueKind.INT,
        (Rule(Support(v_min=(7, 0), v_max=_BEFORE_V8, niji_min=None), 0, 1000),),
        example="--ow 100",
    ),
    ParamSpec(
        "weird",
        "weird",
        ValueKind.INT,
        (Rule(_since((5, 2), 5), 0, 3000),),
        aliases=("w",),
        example="--weird 250",
    ),
    ParamSpec(
        "profile",
        "p",
        ValueKind.TEXT,
        (Rule(_since((6, 0), 6)),),
        aliases=("profile", "personalize"),
        value_optional=True,
        example="--p",
    ),
    ParamSpec("exp", "exp", ValueKind.INT, (Rule(_since((7, 0), 7), 0, 100),), example="--exp 25"),
    # NOTE: Midjourney's version chart lists no Draft for V8.x, but its Draft doc lists it
    # for V8.1, so the table allows it.
    ParamSpec("draft", "draft", ValueKind.FLAG, (Rule(_since((7, 0))),), example="--draft"),
    ParamSpec(
        "repeat", "r", ValueKind.INT, (Rule(minimum=1, maximum=40),), ("repeat",), example="--r 4"
    ),
    ParamSpec("fast", "fast", ValueKind.FLAG, example="--fast"),
    ParamSpec("relax", "relax", ValueKind.FLAG, example="--relax"),
    ParamSpec(
        "turbo",
        "turbo",
        ValueKind.FLAG,
        (Rule(Support(v_min=(5, 0), v_max=_BEFORE_V8)),),
        example="--turbo",
    ),
    ParamSpec("public", "public", ValueKind.FLAG, example="--public"),
    ParamSpec("stealth", "stealth", ValueKind.FLAG, example="--stealth"),
    # NOTE: --hd is V8.1's 2048 px mode; an old model used the same flag, so it is not
    # limited by version here.
    ParamSpec("hd", "hd", ValueKind.FLAG, example="--hd"),
    ParamSpec(
        "edit",
        "edit",
        ValueKind.URLS,
        (Rule(Support(v_min=(8, 1), niji_min=None)),),
        max_items=4,
        example="--edit https://example.com/photo.png",
    ),
    # Midjourney echoes video jobs as "--video 1", so the value 1 is accepted.
    ParamSpec(
        "video",
        "video",
        ValueKind.ENUM,
        (Rule(choices=("1",)),),
        value_optional=True,
        example="--video",
    ),
    ParamSpec(
        "motion", "motion", ValueKind.ENUM, (Rule(choices=("low", "high")),), example="--motion low"
    ),
    ParamSpec("loop", "loop", ValueKind.FLAG, example="--loop"),
    ParamSpec(
        "end", "end", ValueKind.URLS, max_items=1, example="--end https://example.com/last.png"
    ),
    ParamSpec("bs", "bs", ValueKind.ENUM, (Rule(choices=("1", "2", "4")),), example="--bs 2"),
)

# Parameters Midjourney has dropped, each with the fix to show instead.
RETIRED_PARAMETERS: dict[str, str] = {
    "upbeta": "Remove --upbeta; upscales are chosen with the buttons now.",
    "uplight": "Remove --uplight; upscales are chosen with the buttons now.",
    "upanime": "Remove --upanime; upscales are chosen with the buttons now.",
    "test": "Remove --test and use --v 7 or a later version.",
    "testp": "Remove --testp and use --v 7 or a later version.",
    "sameseed": "Remove --sameseed and use --seed with a number.",
    "width": "Remove --width and use --ar, e.g. --ar 16:9.",
    "height": "Remove --height and use --ar, e.g. --ar 16:9.",
    "h": "Remove --h and use --ar, e.g. --ar 16:9.",
    "creative": "Remove --creative; it worked only with the retired --test models.",
}

BY_NAME: dict[str, ParamSpec] = {spec.name: spec for spec in PARAMETERS}
BY_FLAG: dict[str, ParamSpec] = {
    alias.casefold(): spec for spec in PARAMETERS for alias in spec.names
}
ORDER: dict[str, int] = {spec.name: index for index, spec in enumerate(PARAMETERS)}


@dataclass(frozen=True, slots=True)
class Conflict:
    """Two parameters Midjourney rejects together; a value narrows a side to that value."""

    first: str
    second: str
    reason: str
    first_value: str | None = None
    second_value: str | None = None


CONFLICTS: tuple[Conflict, ...] = (
    Conflict("version", "niji", "--v and --niji each choose a model; keep one"),
    Conflict("fast", "relax", "a job runs in one speed mode only"),
    Conflict("fast", "turbo", "a job runs in one speed mode only"),
    Conflict("relax", "turbo", "a job runs in one speed mode only"),
    Conflict("public", "stealth", "a job is either public or stealth"),
    Conflict("oref", "quality", "Omni Reference does not work with --q 4", second_value="4"),
    Conflict("oref", "draft", "Omni Reference does not work in Draft mode"),
    Conflict("tile", "edit", "the Edit Model does not make tiles"),
    Conflict("repeat", "relax", "Relax mode does not run --repeat"),
    # NOTE: one source states that --oref is not available in Fast mode. That reading would
    # make --oref unusable on most accounts, so --oref with --fast is allowed.
)

# Parameters that only make sense next to another one.
REQUIREMENTS: dict[str, str] = {
    "cw": "cref",
    "ow": "oref",
    "motion": "video",
    "loop": "video",
    "end": "video",
    "bs": "video",
}

# The sheet's parameter columns and the parameter each fills.
COLUMN_PARAMETERS: tuple[str, ...] = (
    "aspect_ratio",
    "version",
    "niji",
    "stylize",
    "chaos",
    "quality",
    "seed",
    "style",
    "no",
    "weird",
    "tile",
    "sref",
)


def lookup(name: str) -> ParamSpec | None:
    """Return the parameter called ``name`` (any alias, any case), or None."""
    return BY_FLAG.get(name.casefold())


def all_names() -> list[str]:
    """Return every accepted parameter name, for suggestions."""
    return [alias for spec in PARAMETERS for alias in spec.names]
