from pathlib import Path

import pytest

from service.cli import main, parser
from service.settings import Settings, SettingsError, get_settings, load_settings


def test_defaults() -> None:
    s = load_settings()
    assert (s.host, s.port, s.device, s.dtype, s.workers) == ("127.0.0.1", 8000, "auto", "auto", 1)
    assert s.max_text_chars >= 20_000 and s.api_keys == []


def test_environment_variables(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("SENTIMENT_PORT", "9001")
    monkeypatch.setenv("SENTIMENT_MODEL", str(tmp_path))
    monkeypatch.setenv("SENTIMENT_API_KEYS", " first-key-0123456789 , second-key-0123456789 ")
    monkeypatch.setenv("SENTIMENT_MAX_BATCH_WAIT_MS", "2.5")
    s = load_settings()
    assert s.port == 9001 and s.model == tmp_path and s.max_batch_wait_ms == 2.5
    assert [k.get_secret_value() for k in s.api_keys] == [
        "first-key-0123456789",
        "second-key-0123456789",
    ]
    assert "first-key" not in repr(s)  # secrets stay out of logs and tracebacks


def test_flags_override_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SENTIMENT_PORT", "9001")
    assert load_settings(port="9002").port == 9002


@pytest.mark.parametrize(
    ("overrides", "words"),
    [
        ({"port": "eighty"}, "SENTIMENT_PORT / --port"),
        ({"max_batch_size": 0}, "SENTIMENT_MAX_BATCH_SIZE"),
        ({"dtype": "int8"}, "SENTIMENT_DTYPE"),
        ({"request_timeout_s": 0}, "SENTIMENT_REQUEST_TIMEOUT_S"),
        ({"model": "/nonexistent"}, "not an artifact directory"),
        ({"api_keys": "abc"}, "at least 16 characters"),
        ({"max_texts": 50, "queue_capacity": 10}, "could never be queued"),
        ({"explain_max_texts": 9, "explain_queue_capacity": 8}, "explain_queue_capacity"),
        ({"explain_steps": 1}, "SENTIMENT_EXPLAIN_STEPS"),
        ({"explain_nice": 20}, "SENTIMENT_EXPLAIN_NICE"),
    ],
)
def test_bad_values_name_the_setting(overrides: dict, words: str) -> None:
    with pytest.raises(SettingsError, match=words):
        load_settings(**overrides)


def test_unknown_environment_settings_are_ignored_but_unknown_fields_are_not(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("SENTIMENT_SOMETHING_ELSE", "1")  # other tools may share the prefix
    with pytest.raises(SettingsError, match="SENTIMENT_BATCH"):
        load_settings(batch=3)


def test_env_round_trip_for_worker_processes(monkeypatch: pytest.MonkeyPatch) -> None:
    s = load_settings(port=9100, api_keys="a-key-of-enough-length", workers=2)
    for name, value in s.env().items():
        monkeypatch.setenv(name, value)
    again = load_settings()
    assert again.port == 9100 and again.workers == 2 and again.api_keys == s.api_keys


def test_get_settings_is_cached() -> None:
    get_settings.cache_clear()
    assert get_settings() is get_settings()
    get_settings.cache_clear()


def test_every_setting_has_a_flag() -> None:
    help_text = parser().format_help()
    for name in Settings.model_fields:
        assert (
            f"--{name.replace('_', '-')}" in help_text and f"SENTIMENT_{name.upper()}" in help_text
        )


def test_cli_rejects_bad_flags(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--port", "99999"]) == 2
    assert "SENTIMENT_PORT / --port" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("files", "cap"),
    [
        ({"cpu.max": "max 100000"}, None),
        ({"cpu.max": "150000 100000"}, 2),  # docker --cpus 1.5
        ({"cpu.max": "100000 100000"}, 1),
        ({"cpu.max": "20000 100000"}, 1),  # never below one
        ({"cpu/cpu.cfs_quota_us": "300000", "cpu/cpu.cfs_period_us": "100000"}, 3),  # cgroup v1
        ({"cpu/cpu.cfs_quota_us": "-1", "cpu/cpu.cfs_period_us": "100000"}, None),
    ],
)
def test_usable_cpus_honours_cgroup_quotas(
    tmp_path: Path, files: dict[str, str], cap: int | None
) -> None:
    import os

    from service.settings import usable_cpus

    for name, content in files.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(content + "\n")
    affinity = len(os.sched_getaffinity(0))
    assert usable_cpus(tmp_path) == (affinity if cap is None else min(affinity, cap))


def test_an_empty_variable_counts_as_unset(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SENTIMENT_MODEL", "")
    monkeypatch.setenv("SENTIMENT_PORT", "")
    s = load_settings()
    assert s.model is None and s.port == 8000


def test_the_configuration_page_lists_every_setting() -> None:
    page = (Path(__file__).resolve().parents[2] / "docs" / "configuration.md").read_text()
    table = page.split("# Configuration", 1)[1].split("\n## ", 1)[0]
    for name in Settings.model_fields:
        assert f"`SENTIMENT_{name.upper()}`" in table, f"docs lack SENTIMENT_{name.upper()}"
