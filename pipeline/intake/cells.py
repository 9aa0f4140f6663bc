"""Turn spreadsheet cell values into the text the spreadsheet displays: 7 stays "7", not "7.0".

openpyxl returns typed values (int, float, datetime, time, timedelta, bool) plus the
cell's number format, but no rendering. This module renders the formats people use in
prompt sheets: General, fixed decimals, thousands separators, percentages, scientific
notation, and date and time formats. Anything it does not understand falls back to
Excel's General rendering, which loses no digits.
"""

from __future__ import annotations

import datetime as dt
import re
from decimal import ROUND_HALF_UP, Decimal

# Excel counts days from 1899-12-30 (the 1900 leap-year bug folded in), so times of day
# and durations are offsets from that date.
_EXCEL_EPOCH = dt.datetime(1899, 12, 30)
_MONTHS = (
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
)
_WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")

_SECTION_SPLIT = re.compile(r'("[^"]*"|\\.|[^;"\\]+)+')
_DATE_TOKEN = re.compile(
    r'"[^"]*"|\\.|\[h+\]|\[m+\]|\[s+\]|\[[^\]]*\]|_.|\*.|am/pm|a/p|\.0+|y+|m+|d+|h+|s+|.',
    re.IGNORECASE,
)
_NUMBER_PART = re.compile(r"[0#?][0#?,]*(\.[0#?]*)?|\.[0#?]+")


def general_text(value: object) -> str:
    """Render a value as Excel's General format does, without losing digits."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if value.is_integer() and abs(value) < 1e15:
            return str(int(value))
        return format(value, ".15g").replace("e", "E")
    if isinstance(value, dt.time):
        return _format_date(value, "h:mm:ss")
    if isinstance(value, dt.timedelta):
        return _format_date(value, "[h]:mm:ss")
    if isinstance(value, dt.datetime | dt.date):
        return _format_date(value, "yyyy-mm-dd h:mm:ss" if _has_time(value) else "yyyy-mm-dd")
    return str(value)


def visible_text(value: object, number_format: str | None) -> str:
    """Render a value with the cell's number format, as the spreadsheet shows it."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    section = _pick_section(number_format or "General", value)
    if isinstance(value, dt.datetime | dt.date | dt.time | dt.timedelta):
        if not _is_date_format(section):
            return general_text(value)
        return _format_date(value, section)
    if isinstance(value, int | float) and not isinstance(value, bool):
        return _format_number(value, section)
    return general_text(value)


def ratio_text(value: object, number_format: str | None) -> str:
    """Render an aspect ratio cell; Excel stores a typed 16:9 as the time 16:09."""
    if isinstance(value, dt.time):
        return f"{value.hour}:{value.minute}"
    if isinstance(value, dt.timedelta):
        minutes = round(value.total_seconds()) // 60
        return f"{minutes // 60}:{minutes % 60}"
    if isinstance(value, dt.datetime) and value < dt.datetime(1900, 3, 1):
        # openpyxl shifts serials below 60 by a day to undo Excel's 1900 leap-year bug,
        # so these count from 1899-12-31.
        minutes = round((value - dt.datetime(1899, 12, 31)).total_seconds()) // 60
        return f"{minutes // 60}:{minutes % 60}"
    return visible_text(value, number_format)


def _has_time(value: dt.datetime | dt.date) -> bool:
    return isinstance(value, dt.datetime) and value.time() != dt.time()


def _pick_section(number_format: str, value: object) -> str:
    """Choose the format section for the value: positive;negative;zero;text."""
    sections = [match.group(0) for match in _SECTION_SPLIT.finditer(number_format)]
    if not sections:
        return "General"
    if isinstance(value, int | float) and not isinstance(value, bool):
        if value < 0 and len(sections) > 1:
            return sections[1]
        if value == 0 and len(sections) > 2:
            return sections[2]
    return sections[0]


def _is_date_format(section: str) -> bool:
    stripped = re.sub(r'"[^"]*"|\\.|\[(?!h|m|s)[^\]]*\]', "", section, flags=re.IGNORECASE)
    return bool(re.search(r"[ymdhs]", stripped, re.IGNORECASE))


def _literal(token: str) -> str:
    if token.startswith('"'):
        return token[1:-1]
    if token.startswith("\\"):
        return token[1:]
    if token.startswith(("_", "*")) or (token.startswith("[") and token.endswith("]")):
        return ""  # padding, fill characters, colours and locale tags print nothing
    return token


def _format_number(value: int | float, section: str) -> str:
    """Render a number with one format section; unknown shapes fall back to General."""
    if section.casefold() in ("general", "@") or "/" in section:
        return general_text(value)
    match = _NUMBER_PART.search(re.sub(r'"[^"]*"|\\.', lambda m: "\0" * len(m[0]), section))
    if match is None:
        return general_text(value)
    prefix = "".join(_literal(t) for t in _DATE_TOKEN.findall(section[: match.start()]))
    rest = section[match.end() :]
    pattern = match.group(0)

    number = Decimal(repr(value)) if isinstance(value, float) else Decimal(value)
    if "%" in rest:
        number *= 100
    if rest.upper().startswith(("E+", "E-")):
        decimals = len(pattern.partition(".")[2])
        body = f"{abs(float(number)):.{decimals}E}"
        digits = len(rest) - 2
        mantissa, _, exponent = body.partition("E")
        body = f"{mantissa}E{exponent[0]}{exponent[1:].lstrip('0').zfill(max(digits, 1))}"
        rest = rest[2 + digits :]
    else:
        body = _format_fixed(abs(number), pattern)
    suffix = "".join(_literal(t) for t in _DATE_TOKEN.findall(rest))

    # A negative number with its own section carries its sign (or brackets) as literals.
    sign = "-" if number < 0 and not _has_negative_section(section, value) else ""
    return f"{sign}{prefix}{body}{suffix}"


def _has_negative_section(section: str, value: int | float) -> bool:
    return value < 0 and ("(" in section or "-" in section)


def _format_fixed(number: Decimal, pattern: str) -> str:
    integer_pattern, _, decimal_pattern = pattern.partition(".")
    decimals = len(decimal_pattern)
    rounded = number.quantize(Decimal(1).scaleb(-decimals), rounding=ROUND_HALF_UP)
    integer_part, _, fraction = f"{rounded:f}".partition(".")

    min_digits = integer_pattern.count("0")
    integer_part = integer_part.lstrip("0").zfill(min_digits)
    if "," in integer_pattern and integer_part:
        integer_part = f"{int(integer_part):,}"
    return f"{integer_part}.{fraction}" if decimals else integer_part


def _format_date(value: dt.datetime | dt.date | dt.time | dt.timedelta, section: str) -> str:
    """Render a date, time or duration with an Excel date format section."""
    moment, elapsed = _as_moment(value)
    tokens = _DATE_TOKEN.findall(section)
    twelve_hour = any(t.casefold() in ("am/pm", "a/p") for t in tokens)
    minute_positions = _minute_positions(tokens)

    parts = []
    for index, token in enumerate(tokens):
        lower = token.casefold()
        if lower[0] == "m" and index in minute_positions:
            parts.append(f"{moment.minute:0{min(len(token), 2)}d}")
        elif lower[0] in "ymdhs" or lower.startswith(("[h", "[m", "[s", "a/p", "am/pm")):
            parts.append(_date_token(lower, moment, elapsed, twelve_hour))
        elif lower.startswith(".0"):
            parts.append(f".{moment.microsecond:06d}"[: len(token)])
        else:
            parts.append(_literal(token))
    return "".join(parts)


def _as_moment(
    value: dt.datetime | dt.date | dt.time | dt.timedelta,
) -> tuple[dt.datetime, dt.timedelta]:
    if isinstance(value, dt.timedelta):
        return _EXCEL_EPOCH + value, value
    if isinstance(value, dt.datetime):
        return value, value - _EXCEL_EPOCH
    if isinstance(value, dt.date):
        moment = dt.datetime(value.year, value.month, value.day)
        return moment, moment - _EXCEL_EPOCH
    moment = dt.datetime.combine(_EXCEL_EPOCH.date(), value)
    return moment, moment - _EXCEL_EPOCH


def _minute_positions(tokens: list[str]) -> set[int]:
    """Find the m tokens that mean minutes: right after an hour or right before seconds."""
    kinds = [_token_kind(token) for token in tokens]
    positions = set()
    for index, kind in enumerate(kinds):
        if kind != "m" or len(tokens[index]) > 2:
            continue
        before = next((k for k in reversed(kinds[:index]) if k), "")
        after = next((k for k in kinds[index + 1 :] if k), "")
        if before == "h" or after == "s":
            positions.add(index)
    return positions


def _token_kind(token: str) -> str:
    """Return y, m, d, h or s for a date token ("[h]" counts as h), else ""."""
    letter = token.casefold().lstrip("[")[:1]
    return letter if letter and letter in "ymdhs" else ""


def _date_token(token: str, moment: dt.datetime, elapsed: dt.timedelta, twelve: bool) -> str:
    size = len(token)
    if token.startswith("[h"):
        return str(int(elapsed.total_seconds() // 3600))
    if token.startswith("[m"):
        return str(int(elapsed.total_seconds() // 60))
    if token.startswith("[s"):
        return str(int(elapsed.total_seconds()))
    if token in ("am/pm", "a/p"):
        marker = "AM" if moment.hour < 12 else "PM"
        return marker if size > 3 else marker[0]
    kind = token[0]
    if kind == "y":
        return f"{moment.year % 100:02d}" if size <= 2 else f"{moment.year:04d}"
    if kind == "m":
        return _month_text(moment.month, size)
    if kind == "d":
        return _day_text(moment, size)
    if kind == "h":
        hour = (moment.hour % 12 or 12) if twelve else moment.hour
        return f"{hour:0{min(size, 2)}d}"
    return f"{moment.second:0{min(size, 2)}d}"


def _month_text(month: int, size: int) -> str:
    name = _MONTHS[month - 1]
    if size == 1:
        return str(month)
    if size == 2:
        return f"{month:02d}"
    if size == 3:
        return name[:3]
    if size == 4:
        return name
    return name[0]


def _day_text(moment: dt.datetime, size: int) -> str:
    if size == 1:
        return str(moment.day)
    if size == 2:
        return f"{moment.day:02d}"
    weekday = _WEEKDAYS[moment.weekday()]
    return weekday[:3] if size == 3 else weekday
