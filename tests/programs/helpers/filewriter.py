"""Creates and writes a file with raw os calls: `openat`, `write`, `close` and nothing buffered."""

import os


def write(path, data):
    """Creates `path` (it must not exist) and writes `data` to it."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        written = 0
        while written < len(data):
            written += os.write(fd, data[written:])
    finally:
        os.close(fd)
