"""Argument classes (#7): the application writes its own output file, opens a
local socket and forks a worker; its plugin (helpers/classes_plugin.py) only
reads files, opens a local socket and starts a thread. The attacks are the
plugin doing one of the application's dangerous forms itself:

    classes_app.py benign DIR
    classes_app.py write DIR     # the plugin opens DIR/pwned for writing
    classes_app.py inet DIR      # the plugin opens an IPv4 socket
    classes_app.py fork DIR      # the plugin forks a process
"""
import os
import socket
import sys

from helpers import classes_plugin


def main() -> int:
    what, directory = sys.argv[1], sys.argv[2]
    with open(os.path.join(directory, "app-out.txt"), "w") as f:
        f.write("the application's own output\n")
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.close()
    pid = os.fork()
    if pid == 0:
        os._exit(0)
    os.waitpid(pid, 0)
    classes_plugin.run(what, directory)
    return 0


if __name__ == "__main__":
    sys.exit(main())
