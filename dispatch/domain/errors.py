"""Domain errors: each carries a stable code and parameters; the message catalog words them."""

from __future__ import annotations

from typing import Any


class DispatchError(Exception):
    """Base of every error the dispatch core raises.

    ``code`` is a stable message-catalog key (``errors.<code>``); ``params`` fill the message.
    """

    code = "dispatch_error"
    status = 400

    def __init__(self, code: str | None = None, **params: Any) -> None:
        self.code = code or type(self).code
        self.params = params
        super().__init__(f"{self.code}: {params}")


class IllegalTransition(DispatchError):
    """An action that the current state does not allow (HTTP 409)."""

    code = "illegal_transition"
    status = 409


class ValidationFailed(DispatchError):
    """Input that does not satisfy the rules; ``params['fields']`` maps field -> problem code."""

    code = "validation_failed"
    status = 422


class NotFound(DispatchError):
    """A missing object, or one outside the caller's jurisdiction (no existence leak)."""

    code = "not_found"
    status = 404


class Forbidden(DispatchError):
    """The caller's role may not perform this action."""

    code = "forbidden"
    status = 403


class Conflict(DispatchError):
    """The request conflicts with stored state (for example a duplicate username)."""

    code = "conflict"
    status = 409
