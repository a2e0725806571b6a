"""The one exception raised for any bad setting or configuration file."""

from __future__ import annotations

from pathlib import Path


class ConfigError(Exception):
    """A setting or a configuration file is wrong; start-up must stop.

    The message names the file (or the environment variable), the key and the problem, e.g.
    ``config/reference.yaml: deadlines.major.township.accept_minutes: must be greater than 0``.

    Attributes:
        file: The file (or ``"environment"``) the bad value came from.
        key: Dotted key (or environment variable name) of the bad value; empty for the whole file.
        reason: What is wrong, in plain words.
    """

    def __init__(self, file: str | Path, key: str, reason: str) -> None:
        self.file = _display(file)
        self.key = key
        self.reason = reason
        super().__init__(str(self))

    def __str__(self) -> str:
        parts = [self.file] if self.file else []
        if self.key:
            parts.append(self.key)
        parts.append(self.reason)
        return ": ".join(parts)

    def __reduce__(self) -> tuple[type[ConfigError], tuple[str, str, str]]:
        # Keep the error picklable (multiprocessing start-up) despite the custom __init__.
        return (type(self), (self.file, self.key, self.reason))


def _display(file: str | Path) -> str:
    """Show a path relative to the working directory when it lies below it (shorter messages)."""
    if isinstance(file, str) and not file:
        return ""
    path = Path(file)
    try:
        return path.resolve().relative_to(Path.cwd().resolve()).as_posix()
    except ValueError:
        return str(path)
