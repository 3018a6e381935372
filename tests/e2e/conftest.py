from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.server import ServerProcess


@pytest.fixture(scope="module")
def server(
    serving_artifact: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ServerProcess]:
    """The server in fp32, so scores can be compared exactly; shared by a module's tests."""
    with ServerProcess(serving_artifact, tmp_path_factory.mktemp("logs"), dtype="fp32") as process:
        yield process
