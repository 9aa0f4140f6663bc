"""Application commands: bulk overwrite (``tree.sync()``), lookup, and the user's command index."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

from sandbox.discord.errors import DiscordHTTPError, form_error
from sandbox.discord.snowflakes import SnowflakeFactory

CHAT_INPUT = 1
_NAME = re.compile(r"^[-_\w]{1,32}$")


class CommandRegistry:
    """Commands of gateway-connected applications, global and per guild."""

    def __init__(self, snowflakes: SnowflakeFactory) -> None:
        self._snowflakes = snowflakes
        # (application id, guild id or None) → command name and type → command
        self._scopes: dict[tuple[str, str | None], dict[tuple[str, int], dict[str, Any]]] = {}

    def overwrite(
        self, application_id: str, guild_id: str | None, commands: Sequence[Mapping[str, Any]]
    ) -> list[dict[str, Any]]:
        """Replace a scope's commands; keep ids of unchanged names, bump changed versions."""
        if not isinstance(commands, list):
            raise DiscordHTTPError(400, 50109, "The request body contains invalid JSON.")
        for index, command in enumerate(commands):
            _validate_command(index, command)

        old = self._scopes.get((application_id, guild_id), {})
        new: dict[tuple[str, int], dict[str, Any]] = {}
        for command in commands:
            key = (str(command["name"]), int(command.get("type", CHAT_INPUT)))
            previous = old.get(key)
            new[key] = self._stored(application_id, guild_id, command, previous)
        self._scopes[(application_id, guild_id)] = new
        return list(new.values())

    def in_scope(self, application_id: str, guild_id: str | None = None) -> list[dict[str, Any]]:
        """Return one scope's commands."""
        return list(self._scopes.get((application_id, guild_id), {}).values())

    def visible_in(self, application_id: str, guild_id: str) -> list[dict[str, Any]]:
        """Return the guild's commands, then the global ones whose name the guild lacks."""
        guild_commands = self.in_scope(application_id, guild_id)
        names = {(c["name"], c["type"]) for c in guild_commands}
        global_commands = [
            c for c in self.in_scope(application_id) if (c["name"], c["type"]) not in names
        ]
        return guild_commands + global_commands

    def find(
        self, application_id: str, guild_id: str, *, command_id: str | None, name: str | None
    ) -> dict[str, Any] | None:
        """Return the command a user interaction names, by id first and then by name."""
        candidates = self.visible_in(application_id, guild_id)
        for command in candidates:
            if command_id is not None and command["id"] == command_id:
                return command
        for command in candidates:
            if command_id is None and command["name"] == name:
                return command
        return None

    def application_ids(self) -> set[str]:
        """Return the applications that have synced commands."""
        return {application_id for application_id, _ in self._scopes}

    def _stored(
        self,
        application_id: str,
        guild_id: str | None,
        command: Mapping[str, Any],
        previous: dict[str, Any] | None,
    ) -> dict[str, Any]:
        stored: dict[str, Any] = {
            "type": CHAT_INPUT,
            "description": "",
            "options": [],
            "default_member_permissions": None,
            "dm_permission": True,
            "contexts": None,
            "integration_types": [0],
            "nsfw": False,
            "name_localizations": None,
            "description_localizations": None,
        }
        stored.update(command)
        stored["application_id"] = application_id
        if guild_id is not None:
            stored["guild_id"] = guild_id
        if previous is None:
            stored["id"] = self._snowflakes.next_id()
            stored["version"] = self._snowflakes.next_id()
            return stored

        stored["id"] = previous["id"]
        unchanged = _definition(previous) == _definition(stored)
        stored["version"] = previous["version"] if unchanged else self._snowflakes.next_id()
        return stored


def _definition(command: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in command.items() if k not in ("id", "version", "application_id")}


def _validate_command(index: int, command: Any) -> None:
    if not isinstance(command, Mapping):
        raise form_error(f"{index}", "DICT_TYPE_CONVERT", "Only dictionaries may be used.")
    name = command.get("name")
    if not isinstance(name, str) or not _NAME.match(name):
        raise form_error(
            f"{index}.name", "APPLICATION_COMMAND_INVALID_NAME", "Command name is invalid"
        )
    command_type = command.get("type", CHAT_INPUT)
    description = command.get("description", "")
    if command_type == CHAT_INPUT and not (
        isinstance(description, str) and 1 <= len(description) <= 100
    ):
        raise form_error(
            f"{index}.description", "BASE_TYPE_BAD_LENGTH", "Must be between 1 and 100 in length."
        )
    for option_index, option in enumerate(command.get("options") or []):
        _validate_option(f"{index}.options.{option_index}", option)


def _validate_option(path: str, option: Any) -> None:
    if not isinstance(option, Mapping):
        raise form_error(path, "DICT_TYPE_CONVERT", "Only dictionaries may be used.")
    for key in ("type", "name", "description"):
        if key not in option:
            raise form_error(f"{path}.{key}", "BASE_TYPE_REQUIRED", "This field is required")
    for sub_index, sub_option in enumerate(option.get("options") or []):
        _validate_option(f"{path}.options.{sub_index}", sub_option)
