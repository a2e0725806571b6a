"""Settings: precedence of sources, validation messages, the production and demo secrets."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from config.errors import ConfigError
from config.settings import MIN_SECRET_LENGTH, Settings, load_settings

LONG_SECRET = "s" * MIN_SECRET_LENGTH


@pytest.fixture
def empty_yaml(tmp_path: Path) -> Path:
    path = tmp_path / "empty.yaml"
    path.touch()
    return path


def write_yaml(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "app.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_defaults(tmp_path: Path, empty_yaml: Path) -> None:
    data_dir = tmp_path / "data" / "nested"
    settings = load_settings(config_file=empty_yaml, data_dir=data_dir)
    assert settings.env == "demo"
    assert settings.lang == "zh-CN"
    assert (settings.host, settings.port) == ("127.0.0.1", 8050)
    assert settings.redis_url is None
    assert settings.token_ttl_seconds == 8 * 3600
    assert settings.simulator_enabled is True
    assert settings.streams_enabled is True
    assert data_dir.is_dir(), "data_dir is created on load"
    assert settings.database_url == f"sqlite:///{data_dir.resolve()}/console.db"
    assert settings.config_dir.is_absolute()
    assert (settings.config_dir / "reference.yaml").exists()


def test_environment_beats_yaml_beats_defaults(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config_file = write_yaml(tmp_path, "port: 9000\nlang: en\nsimulator: false\n")
    monkeypatch.setenv("CC_PORT", "9100")
    settings = load_settings(config_file=config_file, data_dir=tmp_path)
    assert settings.port == 9100  # environment
    assert settings.lang == "en"  # YAML
    assert settings.simulator_enabled is False  # YAML, although demo mode defaults it on
    assert settings.host == "127.0.0.1"  # default


def test_overrides_beat_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CC_PORT", "9100")
    settings = load_settings(config_file=write_yaml(tmp_path, "port: 9000\n"), port=9200)
    assert settings.port == 9200


def test_config_file_from_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CC_CONFIG_FILE", str(write_yaml(tmp_path, "host: 0.0.0.0\n")))
    assert load_settings(data_dir=tmp_path).host == "0.0.0.0"


def test_default_yaml_is_read_from_config_dir(tmp_path: Path) -> None:
    write_yaml(tmp_path, "port: 8123\n")
    assert load_settings(config_dir=tmp_path, data_dir=tmp_path / "d").port == 8123


def test_named_config_file_must_exist(tmp_path: Path) -> None:
    missing = tmp_path / "nope.yaml"
    with pytest.raises(ConfigError) as info:
        load_settings(config_file=missing, data_dir=tmp_path)
    assert info.value.reason == "file not found"
    assert "nope.yaml" in info.value.file


def test_unknown_yaml_key_names_file_and_key(tmp_path: Path) -> None:
    config_file = write_yaml(tmp_path, "port: 8050\nprot: 8051\n")
    with pytest.raises(ConfigError) as info:
        load_settings(config_file=config_file, data_dir=tmp_path)
    err = info.value
    assert err.key == "prot"
    assert "unknown key" in err.reason
    assert err.file.endswith("app.yaml")
    assert str(err).startswith(f"{err.file}: prot: unknown key")


@pytest.mark.parametrize(
    ("text", "key"),
    [
        ("port: 70000\n", "port"),
        ("lang: fr\n", "lang"),
        ("token_ttl_seconds: 10\n", "token_ttl_seconds"),
        ("env: staging\n", "env"),
    ],
)
def test_bad_yaml_value_names_file_and_key(tmp_path: Path, text: str, key: str) -> None:
    with pytest.raises(ConfigError) as info:
        load_settings(config_file=write_yaml(tmp_path, text), data_dir=tmp_path)
    assert info.value.key == key
    assert info.value.file.endswith("app.yaml")


@pytest.mark.parametrize("text", ["- port\n- 8050\n", "port: [unclosed\n"])
def test_malformed_yaml_is_refused(tmp_path: Path, text: str) -> None:
    with pytest.raises(ConfigError) as info:
        load_settings(config_file=write_yaml(tmp_path, text), data_dir=tmp_path)
    assert info.value.file.endswith("app.yaml")


@pytest.mark.parametrize(
    ("variable", "value"),
    [("CC_PORT", "abc"), ("CC_LANG", "fr"), ("CC_TOKEN_TTL_SECONDS", "999999999")],
)
def test_bad_environment_value_names_the_variable(
    tmp_path: Path, empty_yaml: Path, monkeypatch: pytest.MonkeyPatch, variable: str, value: str
) -> None:
    monkeypatch.setenv(variable, value)
    with pytest.raises(ConfigError) as info:
        load_settings(config_file=empty_yaml, data_dir=tmp_path)
    assert info.value.key == variable
    assert info.value.file == "environment"
    assert str(info.value).startswith(f"environment: {variable}: ")


def test_unknown_override_is_refused(tmp_path: Path, empty_yaml: Path) -> None:
    with pytest.raises(ConfigError, match="bogus: unknown setting"):
        load_settings(config_file=empty_yaml, data_dir=tmp_path, bogus=1)


def test_production_requires_a_secret(tmp_path: Path, empty_yaml: Path) -> None:
    with pytest.raises(ConfigError) as info:
        load_settings(config_file=empty_yaml, data_dir=tmp_path, env="production")
    assert info.value.key == "CC_SECRET_KEY"
    assert not (tmp_path / "secret_key").exists(), "production never generates a secret"


def test_production_refuses_a_short_secret(
    tmp_path: Path, empty_yaml: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CC_ENV", "production")
    monkeypatch.setenv("CC_SECRET_KEY", "short")
    with pytest.raises(ConfigError) as info:
        load_settings(config_file=empty_yaml, data_dir=tmp_path)
    assert info.value.key == "CC_SECRET_KEY"
    assert "at least" in info.value.reason


def test_production_with_a_secret(
    tmp_path: Path, empty_yaml: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CC_SECRET_KEY", LONG_SECRET)
    settings = load_settings(config_file=empty_yaml, data_dir=tmp_path, env="production")
    assert settings.secret_key == LONG_SECRET
    assert settings.simulator_enabled is False
    assert LONG_SECRET not in repr(settings)


def test_demo_secret_is_generated_once_and_kept(tmp_path: Path, empty_yaml: Path) -> None:
    first = load_settings(config_file=empty_yaml, data_dir=tmp_path)
    path = tmp_path / "secret_key"
    assert len(first.secret_key) >= MIN_SECRET_LENGTH
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    again = load_settings(config_file=empty_yaml, data_dir=tmp_path)
    assert again.secret_key == first.secret_key
    other = load_settings(config_file=empty_yaml, data_dir=tmp_path / "other")
    assert other.secret_key != first.secret_key


def test_demo_secret_given_explicitly_is_not_stored(tmp_path: Path, empty_yaml: Path) -> None:
    settings = load_settings(config_file=empty_yaml, data_dir=tmp_path, secret_key="x" * 40)
    assert settings.secret_key == "x" * 40
    assert not (tmp_path / "secret_key").exists()


def test_settings_are_immutable(tmp_path: Path, empty_yaml: Path) -> None:
    settings = load_settings(config_file=empty_yaml, data_dir=tmp_path)
    assert isinstance(settings, Settings)
    with pytest.raises(ValueError, match="frozen"):
        settings.port = 1  # type: ignore[misc]


def test_example_file_documents_every_key(tmp_path: Path) -> None:
    example = Path(__file__).resolve().parents[3] / "config" / "app.example.yaml"
    text = example.read_text(encoding="utf-8")
    for name in Settings.model_fields:
        assert f"{name}:" in text, f"app.example.yaml does not mention {name}"
    # The example itself is a valid settings file.
    load_settings(config_file=example, data_dir=tmp_path)


def test_config_error_message_shape() -> None:
    err = ConfigError("config/reference.yaml", "deadlines.major.township.accept_minutes", "bad")
    assert str(err) == "config/reference.yaml: deadlines.major.township.accept_minutes: bad"
    assert (err.file, err.key, err.reason) == (
        "config/reference.yaml",
        "deadlines.major.township.accept_minutes",
        "bad",
    )
