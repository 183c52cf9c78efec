"""Domain errors carry a message for the user (already translated) and, optionally, the field."""


class DomainError(Exception):
    """A rule refused the request; `message` is shown to the user, never a 500."""

    status = 400

    def __init__(self, message, field=None):
        super().__init__(str(message))
        self.message = message
        self.field = field


class NotFound(DomainError):
    status = 404


class Forbidden(DomainError):
    status = 403


class InsufficientPoints(DomainError):
    pass


class AlreadyDone(DomainError):
    """The once-only thing (check-in, claim, gift) has already happened."""

    status = 409
