"""`SchemaError`, the one exception of the package's own (the request's budget has its: `fake.budget`).

Its own module because every other module raises it (static checks, `$ref` resolution, validation,
generation) and the API layer turns it into OpenAI's ``invalid_schema`` error, quoting its text.
"""

from __future__ import annotations


class SchemaError(ValueError):
    """The schema cannot be used: it is malformed, has an unresolvable ``$ref``, or nothing satisfies it.

    ``str(error)`` is ``"<JSON pointer>: <reason>"``; the parts are also available as attributes.
    """

    def __init__(self, reason: str, pointer: str = "#") -> None:
        super().__init__(f"{pointer}: {reason}")
        self.reason = reason
        self.pointer = pointer
