"""One Settings object: command-line flags and SENTIMENT_* environment variables.

Nothing else in the service reads os.environ. A bad value stops start-up with a message that
names the setting, its environment variable and its flag.
"""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

ENV_PREFIX = "SENTIMENT_"


class SettingsError(ValueError):
    """A setting that cannot be used; the message names it."""


class Settings(BaseSettings):
    # env_ignore_empty: SENTIMENT_MODEL= (as compose files and manifests often leave it) means
    # "not set", not the current directory.
    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX, extra="forbid", frozen=True, env_ignore_empty=True
    )

    model: Path | None = Field(None, description="artifact directory to serve")
    host: str = Field("127.0.0.1", description="address to listen on; 0.0.0.0 in containers")
    port: int = Field(8000, ge=0, le=65535, description="port to listen on")
    workers: int = Field(
        1, ge=1, le=64, description="uvicorn worker processes, each with its own model"
    )
    device: Literal["auto", "cpu", "cuda"] = Field("auto", description="auto: CUDA when available")
    dtype: Literal["auto", "fp32", "bf16", "fp16"] = Field(
        "auto", description="auto: bf16 on GPUs and CPUs with native bf16, else fp32"
    )
    max_batch_size: int = Field(64, ge=1, le=4096, description="texts per forward pass")
    max_batch_wait_ms: float = Field(
        5.0, ge=0, le=10_000, description="longest a batch waits to fill"
    )
    queue_capacity: int = Field(1024, ge=1, description="texts waiting at most; more get 503")
    request_timeout_s: float = Field(10.0, gt=0, description="a request waiting longer gets 504")
    read_timeout_s: float = Field(
        10.0,
        gt=0,
        description="a request's headers, and then its body, must arrive within this each: "
        "a late body gets 408, late headers a closed connection",
    )
    keep_alive_timeout_s: float = Field(
        5.0, gt=0, description="an idle keep-alive connection is closed after this"
    )
    max_connections: int = Field(
        1024, ge=1, description="connections per worker at most; more get 503 from uvicorn"
    )
    max_text_chars: int = Field(20_000, ge=1, description="characters per text")
    long_texts: Literal["refuse", "truncate"] = Field(
        "refuse",
        description="a text over max_text_chars: refuse it (422), or truncate it to its first "
        "and last halves of the limit (the model reads only a text's head and tail), saying so "
        "in the response",
    )
    max_texts: int = Field(128, ge=1, description="texts per request")
    max_body_bytes: int = Field(4 * 1024 * 1024, ge=1024, description="request body size")
    inference_threads: int = Field(
        0, ge=0, description="batches run at once; 0: up to 4 on CPU (CPUs shared), 1 on GPU"
    )
    torch_threads: int = Field(
        0, ge=0, description="intra-op threads per batch; 0: the CPUs left per concurrent batch"
    )
    warmup_rounds: int = Field(2, ge=0, description="warm-up passes over representative lengths")
    onednn_cache_capacity: int = Field(
        16,
        ge=0,
        description="oneDNN kernels a worker keeps, one per input shape (oneDNN's own default, "
        "1,024, let a worker grow by 300 MB under texts of every length)",
    )
    malloc_arenas: int = Field(
        2, ge=0, description="glibc malloc arenas per worker; 0: glibc's default, 8 per CPU"
    )
    drain_timeout_s: float = Field(
        30.0, ge=0, description="longest SIGTERM waits for requests in flight"
    )
    log_level: Literal["debug", "info", "warning", "error"] = Field(
        "info", description="info logs one line per request"
    )
    log_format: Literal["json", "text"] = Field("json", description="json: one object per line")
    api_keys: Annotated[list[SecretStr], NoDecode] = Field(
        default_factory=list,
        description="comma-separated; when set, /predict, /explain and /model need one",
    )

    # POST /explain (service/http/explain.py): its own queue, threads and limits, so that
    # explanations, tens of forward and backward passes each, never take what /predict needs.
    explain_max_texts: int = Field(8, ge=1, description="texts per /explain request")
    explain_max_tokens: int = Field(
        800, ge=1, description="tokens the model reads per explained text; more get 422"
    )
    explain_steps: int = Field(
        32, ge=2, le=1024, description="Integrated Gradients steps per explanation"
    )
    explain_queue_capacity: int = Field(
        32, ge=1, description="texts waiting for an explanation at most; more get 503"
    )
    explain_concurrency: int = Field(
        1, ge=0, le=64, description="explanations run at once, one thread each; 0 turns them off"
    )
    explain_timeout_s: float = Field(
        30.0, gt=0, description="an /explain request waiting longer gets 504"
    )
    explain_nice: int = Field(
        19, ge=0, le=19, description="CPU niceness of explanation threads (Linux): /predict first"
    )

    # Model changes while serving (service/http/admin.py, service/engine/swapper.py): off
    # unless admin keys are set, and only for artifacts under the model root.
    admin_keys: Annotated[list[SecretStr], NoDecode] = Field(
        default_factory=list,
        description="comma-separated keys for the /admin routes (model swaps, rollback, shadow); "
        "unset: the admin routes are off",
    )
    model_root: Path | None = Field(
        None, description="the folder admin calls may load artifacts from (needed by admin keys)"
    )
    swap_grace_s: float = Field(
        300.0,
        ge=0,
        description="the model swapped out stays loaded this long, so that a rollback is instant",
    )
    swap_timeout_s: float = Field(
        300.0, gt=0, description="longest an admin call waits for every worker to apply it"
    )
    shadow_queue_capacity: int = Field(
        256, ge=1, description="texts waiting for the shadow candidate at most; more are skipped"
    )

    @field_validator("api_keys", "admin_keys", mode="before")
    @classmethod
    def _split_keys(cls, value: object) -> object:
        if isinstance(value, str):
            return [k.strip() for k in value.split(",") if k.strip()]
        return value

    @field_validator("api_keys", "admin_keys")
    @classmethod
    def _keys_not_trivial(cls, keys: list[SecretStr]) -> list[SecretStr]:
        if any(len(k.get_secret_value()) < 16 for k in keys):
            raise ValueError("each key needs at least 16 characters")
        return keys

    @field_validator("model_root")
    @classmethod
    def _root_is_a_directory(cls, path: Path | None) -> Path | None:
        if path is not None and not path.is_dir():
            raise ValueError(f"{path} is not a folder")
        return path

    @field_validator("model")
    @classmethod
    def _model_is_a_directory(cls, path: Path | None) -> Path | None:
        if path is not None and not path.is_dir():
            raise ValueError(f"{path} is not an artifact directory")
        return path

    @model_validator(mode="after")
    def _admin_is_safe(self) -> Settings:
        if self.admin_keys and self.model_root is None:
            raise ValueError(
                "admin_keys (SENTIMENT_ADMIN_KEYS) need model_root (SENTIMENT_MODEL_ROOT): the "
                "folder that admin calls may load artifacts from"
            )
        shared = {k.get_secret_value() for k in self.api_keys} & {
            k.get_secret_value() for k in self.admin_keys
        }
        if shared:
            raise ValueError(
                "a key is both an API key and an admin key: admin keys must be separate "
                "(SENTIMENT_API_KEYS, SENTIMENT_ADMIN_KEYS)"
            )
        return self

    @model_validator(mode="after")
    def _request_fits_the_queue(self) -> Settings:
        if self.max_texts > self.queue_capacity:
            raise ValueError(
                f"max_texts ({self.max_texts}) is larger than queue_capacity "
                f"({self.queue_capacity}): "
                "such a request could never be queued"
            )
        if self.explain_max_texts > self.explain_queue_capacity:
            raise ValueError(
                f"explain_max_texts ({self.explain_max_texts}) is larger than "
                f"explain_queue_capacity ({self.explain_queue_capacity}): "
                "such a request could never be queued"
            )
        return self

    def env(self) -> dict[str, str]:
        """These settings as SENTIMENT_* variables, for worker processes that read them anew."""
        out = {}
        for name, value in self.model_dump(exclude_unset=True).items():
            if name in ("api_keys", "admin_keys"):
                value = ",".join(k.get_secret_value() for k in getattr(self, name))
            out[ENV_PREFIX + name.upper()] = "" if value is None else str(value)
        return out


def load_settings(**overrides: object) -> Settings:
    """Settings from the environment, with explicit overrides (command-line flags) on top."""
    try:
        return Settings(**{k: v for k, v in overrides.items() if v is not None})
    except ValidationError as exc:
        raise SettingsError(validation_messages(exc)) from exc


def validation_messages(exc: ValidationError) -> str:
    """One line per invalid setting, naming its environment variable and its flag."""
    lines = []
    for error in exc.errors():
        message = error["msg"].removeprefix("Value error, ")
        if not error["loc"]:  # a check across settings; its message names them
            lines.append(f"invalid settings: {message}")
            continue
        name = str(error["loc"][0])
        flag = "--" + name.replace("_", "-")
        value = error.get("input")
        secret = name in ("api_keys", "admin_keys")
        shown = "" if secret or isinstance(value, dict) else f" (got {value!r})"
        lines.append(f"invalid setting {ENV_PREFIX}{name.upper()} / {flag}: {message}{shown}")
    return "; ".join(lines)


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process's settings, read once; tests call get_settings.cache_clear() or override."""
    return load_settings()


def usable_cpus(cgroup: Path = Path("/sys/fs/cgroup")) -> int:
    """CPUs this process may run on: its affinity mask, capped by a cgroup CPU quota
    (docker --cpus, Kubernetes limits), rounded to the nearest whole CPU."""
    try:
        cpus = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        cpus = os.cpu_count() or 1
    quota = _cgroup_quota(cgroup)
    if quota is not None:
        cpus = min(cpus, max(1, int(quota + 0.5)))
    return max(1, cpus)


def _cgroup_quota(cgroup: Path) -> float | None:
    """CPUs allowed by the cgroup (v2 cpu.max, else v1 cfs quota), or None when unlimited."""
    try:
        quota, period = (cgroup / "cpu.max").read_text().split()[:2]
        return None if quota == "max" else int(quota) / int(period)
    except (OSError, ValueError):
        pass
    try:
        quota_us = int((cgroup / "cpu" / "cpu.cfs_quota_us").read_text())
        period_us = int((cgroup / "cpu" / "cpu.cfs_period_us").read_text())
        return None if quota_us <= 0 else quota_us / period_us
    except (OSError, ValueError):
        return None
