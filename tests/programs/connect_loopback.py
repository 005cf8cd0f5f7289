"""Proves a syscall is charged to every module on the calling thread's stack, and only to those.

The main thread connects to a loopback listener through helpers.netclient, so `connect` belongs to
helpers.netclient and to __main__ (its caller). helpers.idle is imported and called just before, but is
not on the stack when `connect` happens, so it must not get `connect`. The listener thread (in __main__)
only accepts.
"""

import socket
import sys
import threading

import helpers.idle
import helpers.netclient


def serve(listener, received):
    conn, _ = listener.accept()
    with conn:
        received.append(conn.recv(16))


def main():
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)
    port = listener.getsockname()[1]
    received = []
    server = threading.Thread(target=serve, args=(listener, received))
    server.start()
    helpers.idle.touch()
    helpers.netclient.connect(port)
    server.join(timeout=5)
    listener.close()
    if received != [b"hello"]:
        return f"connect_loopback: the listener received {received!r}, expected [b'hello']"
    return 0


if __name__ == "__main__":
    sys.exit(main())
