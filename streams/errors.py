"""The streams package's errors: one base class, specific subclasses with a stable code."""

from __future__ import annotations

from typing import Any


class StreamError(Exception):
    """Base of every error raised by the streams package.

    ``code`` is the stable machine-readable code put in JSON errors; ``status`` the HTTP status.
    """

    code = "stream_error"
    status = 500

    def __init__(self, message: str, **details: Any) -> None:
        super().__init__(message)
        self.message = message
        self.details = details


class BadRequest(StreamError):
    code = "bad_request"
    status = 400


class UnsupportedScheme(BadRequest):
    code = "unsupported_scheme"


class InvalidSdp(BadRequest):
    code = "invalid_sdp"


class PayloadTooLarge(StreamError):
    code = "payload_too_large"
    status = 413


class NotFound(StreamError):
    code = "not_found"
    status = 404


class UnknownCamera(NotFound):
    code = "unknown_camera"


class Forbidden(StreamError):
    code = "forbidden"
    status = 403


class Conflict(StreamError):
    code = "conflict"
    status = 409


class Unavailable(StreamError):
    code = "unavailable"
    status = 503


class CameraConfigError(StreamError):
    """``config/cameras.yaml`` is wrong; the message names the file, key and problem."""

    code = "camera_config"
