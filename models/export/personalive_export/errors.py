"""The exporter's one error type: which component, what went wrong, what to do."""


class ExportError(Exception):
    """A failure the user can act on. `code` maps onto the daemon's error catalogue."""

    def __init__(self, code, message, component=None, **details):
        super().__init__(message)
        self.code = code
        self.message = message
        self.component = component
        self.details = details

    def to_json(self):
        return {"code": self.code, "message": self.message, "component": self.component, "details": self.details}
