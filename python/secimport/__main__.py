"""``python -m secimport ARGS``: runs the ``secimport`` binary with ARGS."""

from __future__ import annotations

import os
import sys

from ._binary import find_secimport_bin
from ._errors import SecimportError


def main() -> None:
    try:
        binary = find_secimport_bin()
    except SecimportError as e:
        print(f"secimport: error: {e}", file=sys.stderr)
        sys.exit(2)
    # exec, not a child: signals, exit status and the terminal are the
    # binary's own, exactly as when it is run from PATH.
    os.execv(binary, [binary, *sys.argv[1:]])


if __name__ == "__main__":
    main()
