"""Exit statuses of the ``csrtouch`` command."""

from enum import IntEnum


class ExitStatus(IntEnum):
    OK = 0
    #: Some files failed; the others were processed.
    FAILED = 1
    #: The command line asked for something impossible; nothing was done.
    USAGE = 2
    #: Interrupted with Ctrl-C (128 + SIGINT).
    INTERRUPTED = 130
