"""The ``midjau`` command line: demo, run, sandbox, db upgrade, connect."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import getpass
import importlib.metadata
import logging
import signal
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from pydantic import ValidationError
from pydantic_settings import SettingsError

from midjau.settings import Settings
from pipeline.channel_links import ChannelLinkError, is_snowflake, parse_channel_link
from storage.crypto import TokenCipher

if TYPE_CHECKING:
    from sandbox.replay import Recording
    from sandbox.server import Sandbox

_log = logging.getLogger(__name__)

PLANS = ("basic", "standard", "pro", "mega")


def build_parser() -> argparse.ArgumentParser:
    """Return the argument parser with every subcommand."""
    parser = argparse.ArgumentParser(
        prog="midjau",
        description="Run spreadsheets of Midjourney prompts through Discord.",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug messages")
    parser.add_argument("--version", action="version", version=f"%(prog)s {_version()}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")

    demo = commands.add_parser(
        "demo",
        help="run a sheet offline through the sandbox Discord and Midjourney",
        description="Run a sheet offline: start the sandbox Discord and simulated Midjourney, "
        "send every row through the real bot and relay, and write the ZIP of images and the "
        "Excel report to --out. Uses a temporary data folder of its own, so it never touches "
        "./data or a running `midjau run`, and needs no Discord account.",
    )
    demo.add_argument("sheet", type=Path, help="an .xlsx, .xlsm or .csv file of prompts")
    demo.add_argument(
        "--out",
        type=Path,
        default=Path("out"),
        help="folder for the ZIP and the report (default: out)",
    )
    demo.add_argument(
        "--time-scale",
        type=_positive_float,
        default=None,
        help="multiplier for simulated Midjourney durations (default: from settings, 0.02)",
    )

    commands.add_parser(
        "run",
        help="run the service: bot, relay, dispatcher, scheduler, web site",
        description="Run the service: the Discord bot, the relays of the connected accounts, "
        "the dispatcher, the scheduler and the web site (on MIDJAU_WEB__HOST:MIDJAU_WEB__PORT, "
        "default 127.0.0.1:8080). It migrates the database by itself at start, so `midjau db "
        "upgrade` is not needed first. Only one `midjau run` may use a data folder "
        "(MIDJAU_DATA_DIR, default ./data) at a time. Settings come from MIDJAU_* environment "
        "variables or a .env file in the current folder; see midjau/settings.py.",
    )

    sandbox = commands.add_parser(
        "sandbox",
        help="run the offline Discord and Midjourney alone",
        description="Run the offline Discord and simulated Midjourney on 127.0.0.1 and print "
        "the settings that point `midjau run` at it.",
    )
    sandbox.add_argument(
        "--port", type=int, default=None, help="TCP port on 127.0.0.1 (default: from settings)"
    )
    sandbox.add_argument(
        "--replay",
        type=Path,
        default=None,
        metavar="FILE",
        help="answer with a recording (JSON lines of Discord events) instead of the simulated "
        "Midjourney; a bare name picks a shipped recording, e.g. imagine-2026.jsonl",
    )

    database = commands.add_parser("db", help="database maintenance")
    database_commands = database.add_subparsers(dest="db_command", required=True, metavar="ACTION")
    database_commands.add_parser("upgrade", help="apply every pending migration")

    connect = commands.add_parser(
        "connect",
        help="register a Discord account for Midjourney; the token is read from "
        "MIDJAU_CONNECT_TOKEN or a hidden prompt, never from an argument",
        description="Register the Discord account that runs Midjourney for a MidJAu user, in "
        "one channel of a server where the Midjourney bot is. The account's token is read "
        "from MIDJAU_CONNECT_TOKEN, or else from a hidden prompt in a terminal; never from an "
        "argument, which other users of the machine could see. It is stored encrypted with "
        "MIDJAU_SECRET_KEY, or with the key in <data folder>/secret.key, made at first use.",
    )
    connect.add_argument(
        "--owner", required=True, help="Discord user id of the MidJAu user who owns the connection"
    )
    connect.add_argument(
        "--channel-link", help="https://discord.com/channels/<server id>/<channel id>"
    )
    connect.add_argument("--guild", help="server (guild) id, when no --channel-link is given")
    connect.add_argument("--channel", help="channel id, when no --channel-link is given")
    connect.add_argument(
        "--plan", choices=PLANS, default="standard", help="Midjourney plan (default: standard)"
    )
    connect.add_argument("--label", default="", help="a name for this connection")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line and return the exit status."""
    parser = build_parser()
    arguments = parser.parse_args(argv)
    if arguments.command is None:
        parser.print_help()
        return 2
    try:
        settings = Settings()
    except ValidationError as error:
        print(f"midjau: invalid setting\n{_describe_settings_error(error)}", file=sys.stderr)
        return 2
    except SettingsError as error:
        # pydantic-settings names the field but not the value, which may be a secret.
        print(f"midjau: invalid setting: {error}", file=sys.stderr)
        return 2
    _configure_logging(settings, verbose=arguments.verbose, demo=arguments.command == "demo")
    try:
        return asyncio.run(_dispatch(arguments, settings))
    except KeyboardInterrupt:
        return 130
    except CommandError as error:
        print(f"midjau: {error}", file=sys.stderr)
        return 2
    except OSError as error:
        # Typically a port already in use or a folder that cannot be written.
        print(f"midjau: {error.strerror or error} ({error.filename or 'network'})", file=sys.stderr)
        return 1


def _describe_settings_error(error: ValidationError) -> str:
    lines = []
    for problem in error.errors():
        name = "MIDJAU_" + "__".join(str(part) for part in problem["loc"]).upper()
        # Never echo what may be a secret.
        shown = "" if _SECRET_WORDS & set(name.split("_")) else f" (got {problem.get('input')!r})"
        lines.append(f"  {name}: {problem['msg']}{shown}")
    return "\n".join(lines)


_SECRET_WORDS = {"TOKEN", "KEY", "SECRET", "PASSWORD", "URL"}


def _version() -> str:
    try:
        return importlib.metadata.version("midjau")
    except importlib.metadata.PackageNotFoundError:
        return "(not installed)"


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"{text} must be greater than 0, e.g. 0.02")
    return value


def _configure_logging(settings: Settings, *, verbose: bool, demo: bool) -> None:
    level: int | str = settings.log_level
    if verbose:
        level = logging.DEBUG
    elif demo:
        # The demo draws a progress bar; only trouble should interrupt it.
        level = logging.WARNING
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    # discord.py warns at every start that voice support is not installed; MidJAu has no voice.
    logging.getLogger("discord.client").setLevel(logging.ERROR)
    if not verbose:
        # Alembic names its plugins when imported, and APScheduler each job it adds;
        # MidJAu logs the upgrade and the jobs' work itself.
        for name in ("alembic", "apscheduler"):
            logging.getLogger(name).setLevel(logging.WARNING)


class CommandError(Exception):
    """A problem with the command line or its inputs; the message explains how to fix it."""


async def _dispatch(arguments: argparse.Namespace, settings: Settings) -> int:
    if arguments.command == "demo":
        from midjau.demo import run_demo

        return await run_demo(
            settings, arguments.sheet, arguments.out, time_scale=arguments.time_scale
        )
    if arguments.command == "run":
        return await _run_service(settings)
    if arguments.command == "sandbox":
        return await _run_sandbox(settings, arguments.port, arguments.replay)
    if arguments.command == "db":
        return await _upgrade_database(settings)
    if arguments.command == "connect":
        return await _connect(settings, arguments)
    raise CommandError(f"unknown command {arguments.command!r}")


async def _run_service(settings: Settings) -> int:
    from midjau.instance_lock import InstanceLockedError
    from midjau.service import Service, WebListenError

    # SIGTERM (systemd, Docker) stops the service as Ctrl+C does: cleanly, then exit 0.
    service = asyncio.current_task()
    assert service is not None
    terminated = asyncio.Event()

    def terminate() -> None:
        terminated.set()
        service.cancel()

    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGTERM, terminate)
    try:
        await Service(settings).run_forever()
    except (InstanceLockedError, WebListenError) as error:
        # Raised before the bot or any account connects, so nothing was sent.
        print(f"midjau: {error}", file=sys.stderr)
        return 1
    except asyncio.CancelledError:
        if not terminated.is_set():
            raise
        service.uncancel()
        _log.info("stopped on SIGTERM")
    finally:
        loop.remove_signal_handler(signal.SIGTERM)
    return 0


async def _run_sandbox(settings: Settings, port: int | None, replay_file: Path | None) -> int:
    from sandbox.replay import RecordingError, load_recording
    from sandbox.server import Sandbox, announcement

    sandbox_settings = settings.sandbox
    if port is not None:
        sandbox_settings = sandbox_settings.model_copy(update={"port": port})
    recording: Recording | None = None
    if replay_file is not None:
        try:
            recording = load_recording(replay_file)
        except RecordingError as error:
            raise CommandError(str(error)) from None
    async with Sandbox(sandbox_settings, midjourney=recording is None) as sandbox:
        replaying = _start_replay(sandbox, recording) if recording is not None else None
        for line in announcement(sandbox):
            print(line)
        print("Press Ctrl+C to stop.")
        with contextlib.suppress(asyncio.CancelledError):
            if replaying is not None:
                await replaying
            await asyncio.Event().wait()
    return 0


def _start_replay(sandbox: Sandbox, recording: Recording) -> asyncio.Task[None]:
    """Register the recording's stand-in Midjourney and play it once the product sends."""
    from sandbox.replay import RecordingError, Replay

    # Real timings; a person starts the prompt by hand, so wait long for each interaction.
    replay = Replay(sandbox, interaction_timeout=3600.0)
    print(f"Replaying {recording.source}: send its prompt through MidJAu to start it.")

    async def play() -> None:
        try:
            await replay.play(recording)
        except RecordingError as error:
            print(f"midjau: replay stopped: {error}", file=sys.stderr)
            return
        print(f"Replay of {recording.source} finished; the sandbox keeps running.")

    return asyncio.create_task(play(), name="sandbox-replay")


async def _upgrade_database(settings: Settings) -> int:
    from storage.db import Database

    settings.data_dir.mkdir(parents=True, exist_ok=True)
    db = Database(settings.database_url)
    try:
        await db.upgrade()
    finally:
        await db.dispose()
    print("Database is up to date.")
    return 0


async def _connect(settings: Settings, arguments: argparse.Namespace) -> int:
    if not arguments.owner.isdigit():
        raise CommandError(
            f"--owner {arguments.owner!r} is not a Discord user id; copy it in Discord "
            "(Developer Mode on, right-click the user, Copy User ID)"
        )
    guild_id, channel_id = _channel_ids(arguments)
    token = _read_token(settings)

    connection_id = await _store_connection(settings, arguments, token, guild_id, channel_id)
    print(
        f"Connection {connection_id} saved for Discord user {arguments.owner}"
        f" (channel {channel_id}, plan {arguments.plan})."
    )
    return 0


async def _store_connection(
    settings: Settings, arguments: argparse.Namespace, token: str, guild_id: str, channel_id: str
) -> int:
    """Check the account with Discord and save the connection through an engine that is
    never started, so no Discord session opens and nothing is sent to Midjourney."""
    import aiohttp

    from midjau.service import open_storage
    from pipeline.engine import Engine, EngineError

    db, blobs, secret = await open_storage(settings)
    try:
        async with aiohttp.ClientSession() as http:
            engine = Engine(settings, db, blobs, http, TokenCipher(secret))
            user_id = await engine.ensure_user(arguments.owner)
            try:
                return await engine.add_connection(
                    user_id,
                    token=token,
                    guild_id=guild_id,
                    channel_id=channel_id,
                    plan=arguments.plan,
                    label=arguments.label,
                )
            except EngineError as error:
                raise CommandError(f"Discord user {arguments.owner}: {error}") from None
    finally:
        await db.dispose()


def _channel_ids(arguments: argparse.Namespace) -> tuple[str, str]:
    if arguments.channel_link:
        try:
            return parse_channel_link(arguments.channel_link)
        except ChannelLinkError as error:
            raise CommandError(f"--channel-link {error}") from None
    if not (arguments.guild and arguments.channel):
        raise CommandError("give --channel-link, or both --guild and --channel")
    for option, value in (("--guild", arguments.guild), ("--channel", arguments.channel)):
        if not is_snowflake(value):
            raise CommandError(
                f"{option} {value!r} is not a Discord id: Discord ids are 17 to 20 digits"
            )
    return arguments.guild, arguments.channel


def _read_token(settings: Settings) -> str:
    if settings.connect_token is not None:
        token = settings.connect_token.get_secret_value().strip()
    elif sys.stdin.isatty():
        token = getpass.getpass(
            "Discord token of the account that runs Midjourney (hidden): "
        ).strip()
    else:
        raise CommandError("set MIDJAU_CONNECT_TOKEN or run in a terminal to type the token")
    if not token:
        raise CommandError("the Discord token is empty")
    return token


if __name__ == "__main__":
    sys.exit(main())
