"""Suite-wide hooks: let child processes take Ctrl+C, and show what a hung test awaited."""

from __future__ import annotations

import asyncio
import io
import signal
from collections.abc import Generator
from types import FrameType
from typing import Any

import pytest


def pytest_configure(config: pytest.Config) -> None:
    """Let the ``midjau`` processes that tests start stop on SIGINT, as on Ctrl+C.

    A shell starts a background job (``make test &``) with SIGINT ignored, and a child
    inherits that, so it would never stop on the SIGINT those tests send. A handler set
    here is reset to the default in a child, and Python then installs its own.
    """
    if signal.getsignal(signal.SIGINT) == signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)


@pytest.hookimpl(wrapper=True, optionalhook=True)
def pytest_timeout_set_timer(item: pytest.Item, settings: Any) -> Generator[None, Any, Any]:
    """Print the await chain of each pending task before pytest-timeout fails a test.

    pytest-timeout dumps the threads only, and a hung test's main thread is the loop
    idle in ``select``; the task stacks show which await never finished. The thread
    method ends the process from another thread, so only the signal method gets this.
    """
    result = yield
    fail = signal.getsignal(signal.SIGALRM)
    if settings.method != "signal" or not callable(fail):
        return result

    def dump_then_fail(signum: int, frame: FrameType | None) -> None:
        item.config.get_terminal_writer().write(pending_task_stacks())
        fail(signum, frame)

    signal.signal(signal.SIGALRM, dump_then_fail)
    return result


def pending_task_stacks() -> str:
    """Return the await chain of each unfinished task of the running loop."""
    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:
        return "\nno asyncio loop was running when the test timed out\n"
    tasks = [task for task in asyncio.all_tasks(loop) if not task.done()]
    out = io.StringIO()
    out.write(f"\n{'+' * 20} {len(tasks)} pending asyncio tasks {'+' * 20}\n")
    for task in tasks:
        out.write(f"\n{task!r}\n")
        for line in await_chain(task.get_coro()):
            out.write(f"  {line}\n")
    return out.getvalue()


def await_chain(awaitable: Any) -> list[str]:
    """Return the current line of each coroutine in a suspended await chain, outermost first.

    ``Task.print_stack`` prints the task's own coroutine only, not the ones it awaits.
    """
    lines: list[str] = []
    while awaitable is not None:
        frame = getattr(awaitable, "cr_frame", None) or getattr(awaitable, "gi_frame", None)
        frame = frame or getattr(awaitable, "ag_frame", None)
        if frame is None:
            lines.append(f"awaits {awaitable!r}")
            break
        code = frame.f_code
        lines.append(f'File "{code.co_filename}", line {frame.f_lineno}, in {code.co_name}')
        awaitable = (
            getattr(awaitable, "cr_await", None)
            or getattr(awaitable, "gi_yieldfrom", None)
            or getattr(awaitable, "ag_await", None)
        )
    return lines
