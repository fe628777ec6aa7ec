"""Why a run cannot start: raised by the application layer, shown by the front end as one line."""


class SetupError(Exception):
    """The run cannot start; the message says why and what to do."""
