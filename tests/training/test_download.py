import hashlib
import http.server
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from training.download import IMDB_FILENAME, download_imdb
from training.errors import UserError

PAYLOAD = b"pretend this is aclImdb_v1.tar.gz"


@pytest.fixture
def server(tmp_path: Path) -> Iterator[str]:
    (tmp_path / "www").mkdir()
    (tmp_path / "www" / IMDB_FILENAME).write_bytes(PAYLOAD)

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, directory=str(tmp_path / "www"), **kwargs)

        def log_message(self, *args) -> None:
            pass

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Quiet)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}/{IMDB_FILENAME}"
    httpd.shutdown()


def test_downloads_and_checks_the_checksum(server: str, tmp_path: Path) -> None:
    digest = hashlib.sha256(PAYLOAD).hexdigest()
    path = download_imdb(tmp_path / "data", url=server, sha256=digest)
    assert path.read_bytes() == PAYLOAD
    assert (
        download_imdb(tmp_path / "data", url="http://127.0.0.1:9/unused", sha256=digest) == path
    )  # cached


def test_wrong_checksum_keeps_nothing(server: str, tmp_path: Path) -> None:
    with pytest.raises(UserError, match="expected 0000"):
        download_imdb(tmp_path / "data", url=server, sha256="0" * 64)
    assert list((tmp_path / "data").iterdir()) == []


def test_no_network_names_the_address_and_the_manual_route(tmp_path: Path) -> None:
    url = "http://127.0.0.1:9/aclImdb_v1.tar.gz"  # port 9 (discard): nothing listens
    with pytest.raises(UserError) as info:
        download_imdb(tmp_path, url=url, timeout=2)
    assert url in str(info.value) and "--data" in str(info.value) and "SHA-256" in str(info.value)
