"""``midjau run`` stops cleanly on SIGTERM, as systemd and Docker stop a service."""

from __future__ import annotations

from pathlib import Path

from midjau.settings import SandboxSettings
from sandbox.server import Sandbox
from tests.faults.service_process import ServiceProcess


async def test_sigterm_stops_service_cleanly(tmp_path: Path) -> None:
    async with Sandbox(SandboxSettings()) as sandbox:
        service = ServiceProcess(sandbox, tmp_path)
        await service.start()
        await service.terminate()
        assert service.process is not None
        returncode = service.process.returncode
        # The data folder's lock was released, so the service starts again.
        await service.start()
        await service.stop()

    log = (tmp_path / "service-0.log").read_text()
    assert returncode == 0
    assert "stopped on SIGTERM" in log
    assert "Traceback" not in log
