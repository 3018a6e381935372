"""API keys: with SENTIMENT_API_KEYS set, /predict, /explain and /model need
`Authorization: Bearer <key>`."""

from __future__ import annotations

import hmac

from pydantic import SecretStr

from service.http.errors import ApiError


def authorize(authorization: str, keys: list[SecretStr]) -> None:
    """Raise 401 unless `authorization` is 'Bearer <one of keys>'; no keys: allow all."""
    if not keys:
        return
    scheme, _, given = authorization.partition(" ")
    given_bytes = given.strip().encode()
    matched = False
    for key in keys:  # compare with every key, so the time taken says nothing about which matched
        matched |= hmac.compare_digest(given_bytes, key.get_secret_value().encode())
    if scheme.lower() != "bearer" or not matched:
        raise ApiError(
            401,
            "unauthorized",
            "send a valid API key as 'Authorization: Bearer <key>'",
            headers={"WWW-Authenticate": "Bearer"},
        )
