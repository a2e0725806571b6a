"""Process settings: ``CC_*`` environment variables over ``config/app.yaml`` over defaults."""

from __future__ import annotations

import logging
import os
import secrets
from contextvars import ContextVar
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import Field, ValidationError, field_validator
from pydantic_settings import (
    BaseSettings,
    InitSettingsSource,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)

from config.errors import ConfigError

logger = logging.getLogger(__name__)

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_CONFIG_DIR = PROJECT_ROOT / "config"
DEFAULT_DATA_DIR = PROJECT_ROOT / "var"
ENV_PREFIX = "CC_"
#: Names the YAML file to read instead of ``<config_dir>/app.yaml``; not a setting itself.
CONFIG_FILE_ENV = "CC_CONFIG_FILE"
SECRET_FILE_NAME = "secret_key"
MIN_SECRET_LENGTH = 32

# Where the YAML layer's values come from during one load_settings() call. A context variable
# rather than a class attribute so concurrent loads (tests in threads) cannot see each other's.
_yaml_values: ContextVar[dict[str, Any] | None] = ContextVar("_yaml_values", default=None)


def _default_database_url(data: dict[str, Any]) -> str:
    """SQLite file inside the data directory, as an absolute URL (cwd must not matter)."""
    data_dir = data.get("data_dir", DEFAULT_DATA_DIR)
    return f"sqlite:///{Path(data_dir).resolve() / 'console.db'}"


class Settings(BaseSettings):
    """Everything a process needs to start; build it with :func:`load_settings`."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX,
        env_nested_delimiter="__",
        env_ignore_empty=True,
        extra="forbid",
        frozen=True,
        validate_default=True,
    )

    env: Literal["demo", "production"] = Field(
        default="demo",
        description="demo: SQLite, generated data, simulator on; production: secrets required.",
    )
    config_dir: Path = Field(
        default=DEFAULT_CONFIG_DIR,
        description="Directory holding reference.yaml, regions/ and locale/.",
    )
    data_dir: Path = Field(
        default=DEFAULT_DATA_DIR,
        description="Writable directory for the SQLite file, the demo secret, recordings.",
    )
    database_url: str = Field(
        default_factory=_default_database_url,
        min_length=1,
        description="SQLAlchemy URL; default is an SQLite file in data_dir.",
    )
    redis_url: str | None = Field(
        default=None,
        min_length=1,
        description="Redis URL for the event bus and Socket.IO queue; unset: in-process bus.",
    )
    secret_key: str = Field(
        default="",
        repr=False,
        description="Signs sessions and tokens. Demo: generated once into data_dir when empty; "
        f"production: required, at least {MIN_SECRET_LENGTH} characters.",
    )
    lang: Literal["zh-CN", "en"] = Field(
        default="zh-CN", description="Default language of the UI, API messages and reports."
    )
    simulator: bool | None = Field(
        default=None,
        description="Run the demo simulator; unset: on in demo, off in production.",
    )
    streams_enabled: bool = Field(
        default=True, description="Start the video component (aiortc) inside the process."
    )
    async_mode: Literal["threading", "gevent"] = Field(
        default="threading",
        description="Flask-SocketIO async mode: threading (embedded default, python -m console "
        "run) or gevent (under gunicorn -k gevent, one worker per process).",
    )
    streams_url: str | None = Field(
        default=None,
        min_length=1,
        description="Base URL of a separate streams process (python -m streams serve) for "
        "viewing, calls and recordings; unset: video runs inside the web process.",
    )
    token_ttl_seconds: int = Field(
        default=8 * 3600,
        ge=60,
        le=7 * 24 * 3600,
        description="Lifetime of API bearer tokens, in seconds (1 minute to 7 days).",
    )
    host: str = Field(
        default="127.0.0.1", min_length=1, description="Address the web server binds."
    )
    port: int = Field(default=8050, ge=1, le=65535, description="Port the web server listens on.")

    @field_validator("config_dir", "data_dir")
    @classmethod
    def _absolute(cls, value: Path) -> Path:
        # Relative paths would change meaning with the working directory of each process.
        return value.expanduser().resolve()

    @property
    def simulator_enabled(self) -> bool:
        """Whether the demo simulator runs: explicit setting, else on in demo only."""
        if self.simulator is not None:
            return self.simulator
        return self.env == "demo"

    @property
    def is_production(self) -> bool:
        return self.env == "production"

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # Order is precedence: explicit overrides, then environment, then the YAML file.
        yaml_settings = InitSettingsSource(settings_cls, init_kwargs=dict(_yaml_values.get() or {}))
        return (init_settings, env_settings, yaml_settings)


def field_names() -> tuple[str, ...]:
    """Every settings key (as written in YAML; upper-case with ``CC_`` in the environment)."""
    return tuple(Settings.model_fields)


def env_name(field: str) -> str:
    """The environment variable that sets ``field``."""
    return f"{ENV_PREFIX}{field.upper()}"


def load_settings(config_file: str | Path | None = None, **overrides: Any) -> Settings:
    """Read, validate and complete the settings; the one way to build a :class:`Settings`.

    Args:
        config_file: YAML file to read; default ``$CC_CONFIG_FILE``, else
            ``<config_dir>/app.yaml`` when it exists.
        **overrides: Values that beat every other source (tests, CLI flags).

    Returns:
        Validated settings with ``data_dir`` created and ``secret_key`` filled.

    Raises:
        ConfigError: naming the file or environment variable, the key and the problem.
    """
    path, explicit = _yaml_path(config_file, overrides)
    yaml_data = _read_yaml(path, explicit)
    _warn_unknown_env()
    token = _yaml_values.set(yaml_data)
    try:
        settings = Settings(**overrides)
    except ValidationError as err:
        raise _translate(err, overrides, yaml_data, path) from err
    finally:
        _yaml_values.reset(token)
    try:
        settings.data_dir.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        source, key = _origin("data_dir", overrides, yaml_data, path)
        raise ConfigError(
            source, key, f"cannot create {settings.data_dir}: {err.strerror}"
        ) from err
    return _with_secret(settings, overrides, yaml_data, path)


def _yaml_path(config_file: str | Path | None, overrides: dict[str, Any]) -> tuple[Path, bool]:
    """The YAML file to read and whether it was named explicitly (then it must exist)."""
    if config_file is not None:
        return Path(config_file), True
    from_env = os.environ.get(CONFIG_FILE_ENV)
    if from_env:
        return Path(from_env), True
    config_dir = overrides.get("config_dir") or os.environ.get(env_name("config_dir"))
    base = Path(config_dir) if config_dir else DEFAULT_CONFIG_DIR
    return base / "app.yaml", False


def _read_yaml(path: Path, explicit: bool) -> dict[str, Any]:
    if not path.exists():
        if explicit:
            raise ConfigError(path, "", "file not found")
        return {}
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as err:
        raise ConfigError(path, "", f"cannot read: {err}") from err
    except yaml.YAMLError as err:
        raise ConfigError(path, "", f"not valid YAML: {err}") from err
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(path, "", "top level must be a mapping of setting names to values")
    known = set(field_names())
    for key in data:
        if key not in known:
            raise ConfigError(
                path, str(key), f"unknown key (known keys: {', '.join(sorted(known))})"
            )
    return {str(k): v for k, v in data.items()}


def _warn_unknown_env() -> None:
    # Not an error: other tools may share the prefix, but a typo should not pass unnoticed.
    known = {env_name(f) for f in field_names()} | {CONFIG_FILE_ENV}
    for name in os.environ:
        upper = name.upper()
        if upper.startswith(ENV_PREFIX) and upper.split("__")[0] not in known:
            logger.warning("ignoring unknown environment variable %s", name)


def _env_value_set(field: str) -> bool:
    wanted = env_name(field)
    return any(k.upper() == wanted and v != "" for k, v in os.environ.items())


def _origin(
    field: str,
    overrides: dict[str, Any],
    yaml_data: dict[str, Any],
    path: Path,
) -> tuple[str | Path, str]:
    """Which source gave ``field`` its value: (file or source label, key as written there)."""
    if field in overrides:
        return "settings override", field
    if _env_value_set(field):
        return "environment", env_name(field)
    if field in yaml_data:
        return path, field
    return "defaults", field


def _translate(
    err: ValidationError, overrides: dict[str, Any], yaml_data: dict[str, Any], path: Path
) -> ConfigError:
    """Turn pydantic's first complaint into a ConfigError that names where the value came from."""
    first = err.errors(include_url=False)[0]
    field = str(first["loc"][0]) if first["loc"] else ""
    source, key = _origin(field, overrides, yaml_data, path)
    nested = ".".join(str(p) for p in first["loc"][1:])
    if nested:
        key = f"{key}.{nested}"
    reason = first["msg"]
    if first["type"] == "extra_forbidden":
        reason = "unknown setting"
    if err.error_count() > 1:
        reason += f" (and {err.error_count() - 1} more problem(s))"
    return ConfigError(source, key, reason)


def _with_secret(
    settings: Settings, overrides: dict[str, Any], yaml_data: dict[str, Any], path: Path
) -> Settings:
    """Fill the secret: required in production, generated once and kept in demo mode."""
    if settings.secret_key:
        if settings.is_production and len(settings.secret_key) < MIN_SECRET_LENGTH:
            source, key = _origin("secret_key", overrides, yaml_data, path)
            if source == "defaults":
                source, key = "environment", env_name("secret_key")
            raise ConfigError(
                source, key, f"must be at least {MIN_SECRET_LENGTH} characters in production"
            )
        return settings
    if settings.is_production:
        raise ConfigError(
            "environment",
            env_name("secret_key"),
            f"required in production (at least {MIN_SECRET_LENGTH} random characters)",
        )
    return settings.model_copy(update={"secret_key": _demo_secret(settings.data_dir)})


def _demo_secret(data_dir: Path) -> str:
    """The demo secret kept in ``data_dir`` so sessions survive a restart; created on first use."""
    path = data_dir / SECRET_FILE_NAME
    try:
        existing = path.read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        existing = ""
    except OSError as err:
        raise ConfigError(path, "", f"cannot read the demo secret: {err.strerror}") from err
    if len(existing) >= MIN_SECRET_LENGTH:
        return existing
    secret = secrets.token_urlsafe(48)
    try:
        if existing or path.exists():
            path.unlink()  # too short to be ours: replace it rather than trust it
        # O_EXCL with 0600: no readable window, and of two processes starting at once only one
        # writes; the other reads what the first wrote.
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(secret + "\n")
    except FileExistsError:
        return _demo_secret(data_dir)
    except OSError as err:
        raise ConfigError(path, "", f"cannot write the demo secret: {err.strerror}") from err
    logger.info("generated a demo secret key in %s", path)
    return secret
