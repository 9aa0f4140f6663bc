"""``SandboxUser``: a human Discord user acting through the sandbox's real REST API and gateway.

It does what the Discord client does for a person: uploads attachments to cloud-upload
slots, sends slash commands and button clicks to ``POST /interactions`` with the user
token, and keeps a user gateway session open, so it also receives ephemeral messages.
"""

from __future__ import annotations

import asyncio
import json
import logging
import secrets
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from types import TracebackType
from typing import Any, TypeVar

import aiohttp

from sandbox.actor_gateway import UserGatewayClient
from sandbox.discord.snowflakes import random_nonce

_log = logging.getLogger(__name__)

T = TypeVar("T")
Message = dict[str, Any]

EPHEMERAL_FLAG = 1 << 6
SUB_COMMAND, SUB_COMMAND_GROUP, ATTACHMENT = 1, 2, 11
_VALUE_TYPES: dict[int, Callable[[Any], Any]] = {3: str, 4: int, 5: bool, 10: float}


class SandboxUser:
    """Act as one Discord user (the demo human) against the sandbox."""

    def __init__(
        self,
        *,
        api_base: str,
        gateway_url: str,
        token: str,
        guild_id: str,
        channel_id: str,
    ) -> None:
        self.api_base = api_base
        self.gateway_url = gateway_url
        self.guild_id = guild_id
        self.channel_id = channel_id
        self.user_id: str | None = None
        # The gateway session from the latest READY; interactions name it.
        self.session_id: str | None = None
        self.events: deque[tuple[str, dict[str, Any]]] = deque(maxlen=20_000)
        self.messages: dict[str, Message] = {}
        self.deleted_ids: set[str] = set()
        self._token = token
        self._http: aiohttp.ClientSession | None = None
        self._gateway: UserGatewayClient | None = None
        self._changed = asyncio.Condition()

    def __repr__(self) -> str:
        return f"<SandboxUser id={self.user_id} session={self.session_id}>"

    async def start(self, *, gateway: bool = True, ready_within: float = 5.0) -> None:
        """Open the HTTP session and, by default, the user's gateway session (until READY).

        ``async with SandboxUser(...)`` calls this; calling it again does nothing.
        """
        if self._http is not None:
            return
        self._http = aiohttp.ClientSession()
        if not gateway:
            self.user_id = str((await self._request("GET", "/users/@me"))["id"])
            return
        self._gateway = UserGatewayClient(
            self._http, self.gateway_url, self._token, self._handle_dispatch
        )
        await self._gateway.start(ready_within)

    async def close(self) -> None:
        """Close the gateway session and the HTTP session."""
        if self._gateway is not None:
            await self._gateway.close()
            self._gateway = None
        if self._http is not None:
            await self._http.close()
            self._http = None

    async def __aenter__(self) -> SandboxUser:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.close()

    # -- acting ----------------------------------------------------------------------------

    async def run_slash_command(
        self,
        name: str,
        options: Mapping[str, Any] | None = None,
        attachments: Mapping[str, tuple[str, bytes]] | None = None,
        *,
        application_id: str | None = None,
        channel_id: str | None = None,
    ) -> str:
        """Run ``/name`` (``"batch status"`` for a sub-command) and return the interaction id.

        ``attachments`` maps an attachment option's name to (filename, bytes); the files go
        through cloud-upload slots first, as the Discord client sends them.
        """
        channel_id = channel_id or self.channel_id
        words = name.split()
        command = await self._find_command(words[0], application_id)
        uploaded = await self._upload(channel_id, list((attachments or {}).values()))
        attachment_index = {option: i for i, option in enumerate(attachments or {})}
        values = dict(options or {}) | {option: i for option, i in attachment_index.items()}
        built = _build_options(command.get("options") or [], words[1:], values, name)

        data = {
            "version": command["version"],
            "id": command["id"],
            "name": command["name"],
            "type": command.get("type", 1),
            "options": built,
            "application_command": command,
            "attachments": uploaded,
        }
        payload = self._interaction(2, str(command["application_id"]), channel_id, data)
        return await self._send_interaction(payload)

    async def click_button(
        self, message_id: str, custom_id: str, *, channel_id: str | None = None
    ) -> str:
        """Press a button (or pick a select option) of a message; return the interaction id."""
        channel_id = channel_id or self.channel_id
        message = self.messages.get(message_id) or await self._request(
            "GET", f"/channels/{channel_id}/messages/{message_id}"
        )
        component = _find_component(message.get("components") or [], custom_id)
        if component is None:
            raise ValueError(f"message {message_id} has no component with custom_id {custom_id!r}")
        application_id = str(message.get("application_id") or message["author"]["id"])
        data = {"component_type": component.get("type", 2), "custom_id": custom_id}
        payload = self._interaction(3, application_id, channel_id, data)
        payload["message_id"] = message_id
        payload["message_flags"] = int(message.get("flags") or 0)
        return await self._send_interaction(payload)

    async def send_message(
        self,
        content: str = "",
        files: Sequence[tuple[str, bytes]] = (),
        *,
        channel_id: str | None = None,
        reply_to: str | None = None,
    ) -> Message:
        """Post a message with optional (filename, bytes) files; return the created message."""
        channel_id = channel_id or self.channel_id
        body: dict[str, Any] = {
            "content": content,
            "nonce": random_nonce(),
            "tts": False,
            "flags": 0,
            "attachments": await self._upload(channel_id, list(files)),
        }
        if reply_to is not None:
            body["message_reference"] = {"message_id": reply_to, "channel_id": channel_id}
        return await self._request("POST", f"/channels/{channel_id}/messages", json_body=body)

    async def history(
        self,
        *,
        limit: int = 50,
        before: str | None = None,
        after: str | None = None,
        channel_id: str | None = None,
    ) -> list[Message]:
        """Return channel messages, newest first."""
        params = {"limit": str(limit)}
        params |= {k: v for k, v in (("before", before), ("after", after)) if v is not None}
        path = f"/channels/{channel_id or self.channel_id}/messages"
        return await self._request("GET", path, params=params)

    async def download(self, url: str) -> bytes:
        """Download an attachment URL (no Authorization, like the Discord client)."""
        async with self._session().get(url) as response:
            response.raise_for_status()
            return await response.read()

    async def refresh_urls(self, urls: Sequence[str]) -> dict[str, str]:
        """Re-sign expired attachment URLs; return original → refreshed."""
        body = {"attachment_urls": list(urls)}
        result = await self._request("POST", "/attachments/refresh-urls", json_body=body)
        return {item["original"]: item["refreshed"] for item in result["refreshed_urls"]}

    # -- waiting ---------------------------------------------------------------------------

    async def wait_for_message(
        self,
        predicate: Callable[[Message], bool],
        timeout: float = 5.0,  # noqa: ASYNC109 - the actor's documented signature
    ) -> Message:
        """Return the first message seen (latest version, ephemeral included) that matches.

        Messages that arrived before the call count too, so a reply is never missed.
        Without a gateway session the channel history is polled instead.
        """
        if self._gateway is None:
            return await self._poll_history(predicate, timeout)

        def check() -> Message | None:
            for message_id, message in self.messages.items():
                if message_id not in self.deleted_ids and predicate(message):
                    return message
            return None

        return await self._wait(check, timeout, "no message matched")

    async def wait_for_event(
        self,
        name: str,
        predicate: Callable[[dict[str, Any]], bool] | None = None,
        timeout: float = 5.0,  # noqa: ASYNC109 - same signature as wait_for_message
    ) -> dict[str, Any]:
        """Return the first gateway dispatch of this name (seen before or after the call)."""

        def check() -> dict[str, Any] | None:
            for event, data in self.events:
                if event == name and (predicate is None or predicate(data)):
                    return data
            return None

        return await self._wait(check, timeout, f"no {name} event matched")

    def ephemeral_messages(self) -> list[Message]:
        """Return the ephemeral messages addressed to this user so far."""
        return [m for m in self.messages.values() if int(m.get("flags") or 0) & EPHEMERAL_FLAG]

    async def _wait(self, check: Callable[[], T | None], seconds: float, what: str) -> T:
        try:
            async with asyncio.timeout(seconds), self._changed:
                while (result := check()) is None:
                    await self._changed.wait()
                return result
        except TimeoutError:
            raise TimeoutError(f"{what} within {seconds} s") from None

    async def _poll_history(self, predicate: Callable[[Message], bool], seconds: float) -> Message:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + seconds
        while loop.time() < deadline:
            for message in await self.history(limit=100):
                if predicate(message):
                    return message
            await asyncio.sleep(0.05)
        raise TimeoutError(f"no message matched within {seconds} s")

    # -- REST helpers ----------------------------------------------------------------------

    def _session(self) -> aiohttp.ClientSession:
        if self._http is None:
            raise RuntimeError("SandboxUser is not started; use 'async with' or call start()")
        return self._http

    async def _request(
        self,
        method: str,
        path: str,
        *,
        json_body: Any = None,
        params: Mapping[str, str] | None = None,
    ) -> Any:
        headers = {"Authorization": self._token}
        url = self.api_base + path
        async with self._session().request(
            method, url, json=json_body, params=params, headers=headers
        ) as response:
            text = await response.text()
            if response.status >= 400:
                raise aiohttp.ClientResponseError(
                    response.request_info,
                    (),
                    status=response.status,
                    message=f"{method} {path} failed: {text}",
                )
            return json.loads(text) if text else None

    async def _find_command(self, name: str, application_id: str | None) -> dict[str, Any]:
        index = await self._request("GET", f"/guilds/{self.guild_id}/application-command-index")
        for command in index["application_commands"]:
            matches_app = application_id is None or command["application_id"] == application_id
            if command["name"] == name and matches_app and command.get("type", 1) == 1:
                return command
        raise LookupError(f"no /{name} command in the guild's application-command-index")

    async def _upload(
        self, channel_id: str, files: list[tuple[str, bytes]]
    ) -> list[dict[str, Any]]:
        if not files:
            return []
        slots_request = {
            "files": [
                {"id": str(i), "filename": filename, "file_size": len(data)}
                for i, (filename, data) in enumerate(files)
            ]
        }
        slots = await self._request(
            "POST", f"/channels/{channel_id}/attachments", json_body=slots_request
        )
        listed: list[dict[str, Any]] = []
        for slot, (filename, data) in zip(slots["attachments"], files, strict=True):
            async with self._session().put(slot["upload_url"], data=data) as response:
                response.raise_for_status()
            listed.append(
                {
                    "id": str(slot["id"]),
                    "filename": filename,
                    "uploaded_filename": slot["upload_filename"],
                }
            )
        return listed

    def _interaction(
        self, kind: int, application_id: str, channel_id: str, data: dict[str, Any]
    ) -> dict[str, Any]:
        return {
            "type": kind,
            "application_id": application_id,
            "guild_id": self.guild_id,
            "channel_id": channel_id,
            "session_id": self.session_id or secrets.token_hex(16),
            "nonce": random_nonce(),
            "analytics_location": "slash_ui",
            "data": data,
        }

    async def _send_interaction(self, payload: dict[str, Any]) -> str:
        await self._request("POST", "/interactions", json_body=payload)
        if self._gateway is None:
            return str(payload["nonce"])
        created = await self.wait_for_event(
            "INTERACTION_CREATE", lambda data: data.get("nonce") == payload["nonce"]
        )
        return str(created["id"])

    # -- gateway ---------------------------------------------------------------------------

    async def _handle_dispatch(self, event: str, data: dict[str, Any]) -> None:
        if event == "READY":
            self.user_id = str(data["user"]["id"])
            self.session_id = str(data["session_id"])
        elif event in ("MESSAGE_CREATE", "MESSAGE_UPDATE"):
            self.messages[str(data["id"])] = self.messages.get(str(data["id"]), {}) | data
        elif event == "MESSAGE_DELETE":
            self.deleted_ids.add(str(data["id"]))
        self.events.append((event, data))
        async with self._changed:
            self._changed.notify_all()


def _build_options(
    definitions: Sequence[Mapping[str, Any]],
    path: Sequence[str],
    values: Mapping[str, Any],
    command_name: str,
) -> list[dict[str, Any]]:
    """Build typed options, descending into sub-command groups and sub-commands named in path."""
    if path:
        for definition in definitions:
            if definition["name"] == path[0] and definition["type"] in (
                SUB_COMMAND,
                SUB_COMMAND_GROUP,
            ):
                inner = _build_options(
                    definition.get("options") or [], path[1:], values, command_name
                )
                return [{"type": definition["type"], "name": definition["name"], "options": inner}]
        raise LookupError(f"/{command_name}: no sub-command {path[0]!r}")

    by_name = {definition["name"]: definition for definition in definitions}
    options: list[dict[str, Any]] = []
    for name, value in values.items():
        found = by_name.get(name)
        if found is None:
            raise LookupError(f"/{command_name} has no option {name!r}; it has {sorted(by_name)}")
        option_type = int(found["type"])
        convert = _VALUE_TYPES.get(option_type, str)
        options.append(
            {
                "type": option_type,
                "name": name,
                "value": value if option_type == ATTACHMENT else convert(value),
            }
        )
    return options


def _find_component(
    components: Sequence[Mapping[str, Any]], custom_id: str
) -> Mapping[str, Any] | None:
    for component in components:
        if component.get("custom_id") == custom_id:
            return component
        found = _find_component(component.get("components") or [], custom_id)
        if found is not None:
            return found
    return None
