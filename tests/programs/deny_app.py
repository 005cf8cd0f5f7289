"""The seccomp backend's deny mode (#9): the app's plugin (helpers.actor)
does harmless work when benign, or one action its policy does not allow; the
app prints what happened to it and goes on.

    deny_app.py benign DIR
    deny_app.py ACTION DIR [PORT]   # shell, spawn, connect, create, truncate, thread_shell, fork_shell
"""
import sys

from helpers import actor


def main() -> int:
    action, directory = sys.argv[1], sys.argv[2]
    print("benign: " + actor.benign(directory).strip(), flush=True)
    if action == "connect":
        print("connect: " + actor.connect(sys.argv[3]), flush=True)
    elif action != "benign":
        print(action + ": " + getattr(actor, action)(directory), flush=True)
    print("done", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
