"""The Jetson program's one error type: a one-line message for the user, exit code 2, no traceback."""


class KitError(Exception):
    """Bad input or a missing requirement; the message is one line."""

    exit_code = 2

    def __init__(self, message):
        super(KitError, self).__init__(" ".join(str(message).split()))
