"""The site's feature modules, set up in this order by ``create_app``.

Each module exposes ``setup(app)``, which adds its routes. A module that does not exist
(yet) is skipped; an import error inside an existing module is raised.
"""

from __future__ import annotations

import importlib
import logging
from types import ModuleType

from aiohttp import web

_log = logging.getLogger(__name__)

FEATURE_MODULES = (
    "web.pages",  # home, sign up, log in, log out, verification, password reset
    "web.discord_login",  # "Log in with Discord" (OAuth2)
    "web.dashboard",  # upload, batches, progress, downloads
    "web.settings_pages",  # profile, Discord connections, support
    "web.privacy",  # privacy policy, terms, consent, data rights
)


def setup_features(app: web.Application) -> None:
    """Add the routes of every feature module that exists."""
    for name in FEATURE_MODULES:
        module = _import_if_present(name)
        if module is None:
            _log.debug("web feature %s is not installed; skipped", name)
            continue
        setup = getattr(module, "setup", None)
        if setup is None:
            _log.warning("web feature %s has no setup(app); its routes are missing", name)
            continue
        setup(app)


def _import_if_present(name: str) -> ModuleType | None:
    try:
        return importlib.import_module(name)
    except ModuleNotFoundError as error:
        if error.name != name:
            raise
        return None
