"""One application error type, rendered by one API handler and by pages as form errors."""

from __future__ import annotations

from enum import StrEnum


class ErrorCode(StrEnum):
    INVALID_INPUT = "invalid_input"
    NOT_FOUND = "not_found"
    PERMISSION_DENIED = "permission_denied"
    UNAUTHENTICATED = "unauthenticated"
    LOCKED_OUT = "locked_out"
    PASSWORD_EXPIRED = "password_expired"
    INVALID_CREDENTIALS = "invalid_credentials"


class ApplicationError(Exception):
    """A refused operation: nothing was saved. ``fields`` maps a field name to its problems."""

    status = 400

    def __init__(
        self,
        code: StrEnum | str,
        message: str,
        *,
        fields: dict[str, list[str]] | None = None,
        status: int | None = None,
    ) -> None:
        super().__init__(message)
        self.code = str(code)
        self.message = str(message)
        self.fields = fields or {}
        if status is not None:
            self.status = status

    def as_dict(self) -> dict:
        return {"code": self.code, "message": self.message, "fields": self.fields}


class NotFound(ApplicationError):
    """Also what an object outside the actor's scope raises: out of scope looks like absent."""

    status = 404

    def __init__(self, message: str = "Not found.") -> None:
        super().__init__(ErrorCode.NOT_FOUND, message)


class PermissionDenied(ApplicationError):
    status = 403

    def __init__(self, message: str = "You may not do this.") -> None:
        super().__init__(ErrorCode.PERMISSION_DENIED, message)
