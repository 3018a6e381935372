"""deploy/proxy/nginx.conf, read by tests/deploy/nginxconf.py (`nginx -t` cannot check it here:
Debian's nginx is older than its `resolve` upstream): the same proxying over HTTPS and plain
HTTP, limits that fit the service's, TLS as docs/deployment.md describes it, and no API key
accepted in plain HTTP."""

from __future__ import annotations

import json
import re

import pytest

from service.settings import Settings
from tests.deploy import nginxconf
from tests.deploy.conftest import DEPLOY, compose_config, mounts

CONF = DEPLOY / "proxy" / "nginx.conf"
ROUTES = ("/predict", "/explain", "/model", "/", "/readyz")
TLS_DIR = "/etc/nginx/tls"  # where the certificate and key are mounted (a TLS Secret's keys)

# What every proxied request gets, over HTTPS and plain HTTP alike: the upstream, kept-alive
# HTTP/1.1, the request id, the timeouts and size limit (fitted to the service's below), and no
# retry of a 503 (a saturated fleet would pass its load around).
PROXYING = {
    "proxy_pass": [("http://api",)],
    "proxy_http_version": [("1.1",)],
    "proxy_set_header": [
        ("Connection", ""),
        ("Host", "$host"),
        ("X-Forwarded-For", "$proxy_add_x_forwarded_for"),
        ("X-Request-ID", "$request_id_to_pass"),
    ],
    "proxy_read_timeout": [("40s",)],
    "proxy_connect_timeout": [("2s",)],
    "proxy_next_upstream": [("error", "timeout", "non_idempotent")],
    "proxy_next_upstream_tries": [("2",)],
    "client_max_body_size": [("8m",)],
    "client_header_timeout": [("10s",)],
    "client_body_timeout": [("10s",)],
    "keepalive_timeout": [("5s",)],
}


def http(text: str | None = None) -> nginxconf.Directive:
    return nginxconf.only(nginxconf.parse(text or CONF.read_text()), "http")


def servers(block: nginxconf.Directive) -> dict[str, nginxconf.Directive]:
    """{"https": the server listening with ssl, "http": the one without}."""
    found = {}
    for server in nginxconf.named(block.block or (), "server"):
        (listen,) = nginxconf.named(server.block or (), "listen")
        found["https" if "ssl" in listen.args else "http"] = server
    assert set(found) == {"https", "http"}
    return found


def proxying(block: nginxconf.Directive, scheme: str, route: str) -> dict[str, list]:
    """The PROXYING directives in force for `route` over `scheme`."""
    assert block.block is not None
    levels = [block.block, *nginxconf.location_chain(servers(block)[scheme], route)]
    return {name: nginxconf.effective(levels, name) for name in PROXYING}


def seconds(value: str) -> float:
    number, unit = re.fullmatch(r"(\d+)(ms|s|m)?", value).groups()  # type: ignore[union-attr]
    return int(number) * {"ms": 0.001, "s": 1, "m": 60, None: 1}[unit]


@pytest.mark.parametrize("route", ROUTES)
@pytest.mark.parametrize("scheme", ["https", "http"])
def test_every_route_is_proxied_alike_over_https_and_http(scheme: str, route: str) -> None:
    assert proxying(http(), scheme, route) == PROXYING


def test_the_limits_fit_the_service() -> None:
    service = Settings()
    limit = PROXYING["client_max_body_size"][0][0]
    assert limit.endswith("m") and int(limit[:-1]) * 2**20 > service.max_body_bytes
    # The service answers its own 504 first; nginx only gives up on a replica that hangs.
    longest_wait = max(service.request_timeout_s, service.explain_timeout_s)
    assert seconds(PROXYING["proxy_read_timeout"][0][0]) > longest_wait
    assert seconds(PROXYING["client_body_timeout"][0][0]) == service.read_timeout_s
    upstream = nginxconf.only(http().block or (), "upstream")
    (kept,) = nginxconf.effective([upstream.block or ()], "keepalive_timeout")
    # nginx closes an idle connection to a replica before the replica does.
    assert seconds(kept[0]) < service.keep_alive_timeout_s
    assert nginxconf.effective([upstream.block or ()], "keepalive")  # connections are kept


def test_https_uses_the_mounted_certificate_modern_protocols_and_hsts() -> None:
    conf = http()
    server = servers(conf)["https"]
    assert nginxconf.only(server.block or (), "listen").args == ("443", "ssl")
    levels = [conf.block or (), server.block or ()]
    assert nginxconf.effective(levels, "ssl_certificate") == [(f"{TLS_DIR}/tls.crt",)]
    assert nginxconf.effective(levels, "ssl_certificate_key") == [(f"{TLS_DIR}/tls.key",)]
    assert nginxconf.effective(levels, "ssl_protocols") == [("TLSv1.2", "TLSv1.3")]
    (ciphers,) = nginxconf.effective(levels, "ssl_ciphers")
    for cipher in ciphers[0].split(":"):  # forward secrecy and AEAD only
        assert cipher.startswith("ECDHE-") and ("GCM" in cipher or "CHACHA20" in cipher), cipher
    for route in ROUTES:
        chain = [conf.block or (), *nginxconf.location_chain(server, route)]
        headers = nginxconf.effective(chain, "add_header")
        (hsts,) = [h for h in headers if h[0] == "Strict-Transport-Security"]
        max_age = int(re.search(r"max-age=(\d+)", hsts[1]).group(1))  # type: ignore[union-attr]
        assert max_age >= 365 * 24 * 3600 and hsts[-1] == "always", route


def test_plain_http_refuses_api_keys_with_the_services_error_shape() -> None:
    server = servers(http())["http"]
    assert server.block is not None
    # At the server level: nginx evaluates it before choosing a location, so for every route.
    (guard,) = nginxconf.named(server.block, "if")
    assert guard.args == ("($http_authorization)",)
    (refusal,) = guard.block or ()
    assert refusal.name == "return" and refusal.args[0] == "403"
    body = json.loads(refusal.args[1].replace("\\n", "\n"))
    assert set(body) == {"error", "message", "field"} and body["error"] == "https_required"
    assert nginxconf.only(server.block, "default_type").args == ("application/json",)


def test_compose_mounts_the_certificate_read_only_where_nginx_reads_it() -> None:
    proxy = compose_config("deploy/compose.scale.yml")["services"]["proxy"]
    (tls,) = [v for v in proxy["volumes"] if v["target"] == TLS_DIR]
    assert tls["read_only"] and tls["source"].endswith("deploy/proxy/tls")
    moved = compose_config("deploy/compose.scale.yml", API_TLS_DIR="/run/secrets/tls")
    assert "/run/secrets/tls" in {v["source"] for v in moved["services"]["proxy"]["volumes"]}
    assert mounts(proxy)["deploy/proxy/nginx.conf"] == "/etc/nginx/nginx.conf"


def test_the_reader_sees_what_nginx_sees() -> None:
    """A location with a header of its own loses the common ones there, as in nginx; and a
    configuration the reader cannot follow is refused rather than misread."""
    text = CONF.read_text()
    broken = text.replace(
        "proxy_pass http://api;", "proxy_pass http://api;\n            proxy_set_header X-A b;"
    )
    for scheme in ("https", "http"):
        headers = proxying(http(broken), scheme, "/predict")["proxy_set_header"]
        assert headers == [("X-A", "b")]
    with pytest.raises(ValueError, match="regular-expression"):
        server = servers(http(text.replace("location / {", "location ~ ^/ {")))["http"]
        nginxconf.location_chain(server, "/predict")
    for bad in ("http { server { }", "http { } }", "http { listen 80 }"):
        with pytest.raises(ValueError):
            nginxconf.parse(bad)


def test_upstream_keeps_connections_and_passes_request_ids() -> None:
    conf = http()
    upstream = nginxconf.only(conf.block or (), "upstream")
    assert upstream.args == ("api",)
    (server,) = nginxconf.named(upstream.block or (), "server")
    assert server.args == ("api:8000", "resolve")  # the compose service, re-resolved
    request_id = nginxconf.only(conf.block or (), "map")
    assert request_id.args == ("$http_x_request_id", "$request_id_to_pass")
    assert ("", "$request_id") in {(d.name, *d.args) for d in request_id.block or ()}
