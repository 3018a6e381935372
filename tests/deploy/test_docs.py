"""docs/deployment.md against what it describes: every variable the compose files read is
documented, and the only model it names is the bundled one (it went on quoting the figures of
models bundled before)."""

from __future__ import annotations

import json
import re

from service.settings import ENV_PREFIX, Settings
from tests.deploy.conftest import DEPLOY, ROOT

DOCS = (ROOT / "docs" / "deployment.md").read_text()


def test_every_variable_of_the_compose_files_is_documented() -> None:
    compose = (ROOT / "docker-compose.yml").read_text() + (DEPLOY / "compose.scale.yml").read_text()
    variables = set(re.findall(r"\$\{(\w+)", compose))
    # The service's settings are documented in the README's Configuration table (a test of
    # tests/service keeps that complete); the page documents the compose file's own variables.
    settings = {ENV_PREFIX + name.upper() for name in Settings.model_fields}
    assert {"API_BIND", "API_TLS_BIND"} <= variables
    missing = sorted(v for v in variables - settings if f"`{v}`" not in DOCS)
    assert not missing, f"docs/deployment.md does not document {missing}"


def test_the_only_model_version_named_is_the_bundled_one() -> None:
    metadata = ROOT / "model" / "bundled" / "imdb-bilstm" / "metadata.json"
    bundled = json.loads(metadata.read_text())["model_version"]
    named = set(re.findall(r"imdb-bilstm-\d{8}-[0-9a-f]{8}", DOCS))
    assert named <= {bundled}, f"figures of another model than the bundled {bundled}: {named}"
