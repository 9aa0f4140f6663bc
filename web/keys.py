"""Typed keys of the web application's shared state."""

from __future__ import annotations

from aiohttp import web

from midjau.settings import Settings
from pipeline.engine import Engine
from storage.blobs import LocalBlobStore
from storage.db import Database
from web.mail import Mailer

SETTINGS_KEY = web.AppKey("settings", Settings)
DATABASE_KEY = web.AppKey("database", Database)
# Key that signs download links and derives the session cookie key.
SECRET_KEY = web.AppKey("secret", bytes)
ENGINE_KEY = web.AppKey("engine", Engine)
BLOBS_KEY = web.AppKey("blobs", LocalBlobStore)
MAILER_KEY = web.AppKey("mailer", Mailer)
