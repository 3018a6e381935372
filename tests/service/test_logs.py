import json
import subprocess
import sys

from tests.e2e.server import ROOT


def test_reconfigured_logging_flushes_at_exit_without_errors() -> None:
    """Records still queued at exit are written, and configuring twice (as each app factory
    call does) leaves nothing that fails when the process ends."""
    program = (
        "import logging; from service import logs; "
        "logs.configure('info', 'text'); logs.configure('info', 'json'); "
        "logging.getLogger('service').info('last words', extra={'fields': {'route': '/x'}})"
    )
    done = subprocess.run(
        [sys.executable, "-c", program], cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0
    lines = done.stderr.splitlines()
    assert [json.loads(line)["msg"] for line in lines] == ["last words"], done.stderr
    assert json.loads(lines[0])["route"] == "/x"
