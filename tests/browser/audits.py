"""Checks of a rendered page, run inside the browser: overflow, labels, focus, contrast."""

from __future__ import annotations

from typing import Any

from playwright.async_api import Page

# Elements whose box reaches past the viewport's right edge, for the failure message.
_OVERFLOW = """
() => {
  const width = document.documentElement.clientWidth;
  const scroll = document.scrollingElement.scrollWidth;
  const wide = [];
  for (const element of document.body.querySelectorAll("*")) {
    const box = element.getBoundingClientRect();
    if (box.right > width + 0.5 && box.width > 0 && !element.closest(".table-scroll")) {
      wide.push(`${element.tagName.toLowerCase()}#${element.id}.${element.className} ` +
                `right=${Math.round(box.right)}`);
    }
  }
  return {scroll, wide: wide.slice(0, 5)};
}
"""

# Form controls a person can use that have no accessible name from a label.
_UNLABELLED = """
() => Array.from(document.querySelectorAll("input, select, textarea, button"))
  .filter(control => control.type !== "hidden" && control.getClientRects().length > 0)
  .filter(control => {
    if (control.tagName === "BUTTON") {
      return !control.textContent.trim() && !control.getAttribute("aria-label");
    }
    return !(control.labels && control.labels.length) &&
      !control.getAttribute("aria-label") && !control.getAttribute("aria-labelledby");
  })
  .map(control => control.outerHTML.slice(0, 160))
"""

# The focused element: a name to match on, and whether a focus indicator shows.
_FOCUSED = """
() => {
  const element = document.activeElement;
  if (!element || element === document.body) {
    return null;
  }
  const style = getComputedStyle(element);
  const indicator = (style.outlineStyle !== "none" && parseFloat(style.outlineWidth) > 0) ||
    style.boxShadow !== "none";
  const name = element.id ||
    (element.tagName === "BUTTON" || element.tagName === "A"
      ? element.textContent.trim().replace(/\\s+/g, " ") : element.getAttribute("name"));
  return {name, tag: element.tagName.toLowerCase(), indicator};
}
"""

# Text whose colour against its background is below WCAG AA (4.5:1; 3:1 for large text).
_LOW_CONTRAST = """
() => {
  function channels(colour) {
    const parts = colour.match(/[\\d.]+/g).map(Number);
    return {rgb: parts.slice(0, 3), alpha: parts.length > 3 ? parts[3] : 1};
  }
  function luminance(rgb) {
    const linear = rgb.map(value => {
      const c = value / 255;
      return c <= 0.03928 ? c / 12.92 : Math.pow((c + 0.055) / 1.055, 2.4);
    });
    return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2];
  }
  function background(element) {
    for (let node = element; node; node = node.parentElement) {
      const colour = channels(getComputedStyle(node).backgroundColor);
      if (colour.alpha > 0) {
        return colour.rgb;
      }
    }
    return [255, 255, 255];
  }
  const failures = [];
  for (const element of document.body.querySelectorAll("*")) {
    const ownText = Array.from(element.childNodes)
      .some(node => node.nodeType === Node.TEXT_NODE && node.textContent.trim());
    if (!ownText || element.getClientRects().length === 0) {
      continue;
    }
    const style = getComputedStyle(element);
    if (style.visibility === "hidden" || element.closest("[hidden]")) {
      continue;
    }
    const front = luminance(channels(style.color).rgb);
    const back = luminance(background(element));
    const ratio = (Math.max(front, back) + 0.05) / (Math.min(front, back) + 0.05);
    const size = parseFloat(style.fontSize);
    const large = size >= 24 || (size >= 18.66 && parseInt(style.fontWeight, 10) >= 700);
    if (ratio < (large ? 3 : 4.5)) {
      const text = element.textContent.trim().slice(0, 40);
      failures.push(`${element.tagName.toLowerCase()} "${text}" ${ratio.toFixed(2)}:1`);
    }
  }
  return failures;
}
"""


async def horizontal_overflow(page: Page) -> str | None:
    """Return why the page scrolls sideways, or None when it fits its viewport."""
    viewport = page.viewport_size
    assert viewport is not None
    found: dict[str, Any] = await page.evaluate(_OVERFLOW)
    if found["scroll"] <= viewport["width"]:
        return None
    return f"scrollWidth {found['scroll']} > {viewport['width']}: {found['wide']}"


async def unlabelled_controls(page: Page) -> list[str]:
    """Return the visible form controls without an accessible name."""
    return list(await page.evaluate(_UNLABELLED))


async def low_contrast_text(page: Page) -> list[str]:
    """Return the visible texts below WCAG AA contrast against their background."""
    return list(await page.evaluate(_LOW_CONTRAST))


async def tab_through(page: Page, presses: int) -> list[dict[str, Any]]:
    """Press Tab from the top of the page; return each focused element in order."""
    await page.evaluate("() => document.activeElement && document.activeElement.blur()")
    focused: list[dict[str, Any]] = []
    for _ in range(presses):
        await page.keyboard.press("Tab")
        element = await page.evaluate(_FOCUSED)
        if element is not None:
            focused.append(element)
    return focused
