"""A module the tests guard: it connects, starts threads and forks."""

import os
import socket
import threading


def connect(port):
    socket.create_connection(("127.0.0.1", port), timeout=5).close()
    return "connected"


def start_thread(target, *args):
    """Starts a thread running `target` (code that is not in this module)."""
    t = threading.Thread(target=target, args=args)
    t.start()
    t.join()


def fork_and_call(target, *args):
    """Forks; the child runs `target` (not in this module) and exits 0. The
    parent returns the child's wait status."""
    pid = os.fork()
    if pid == 0:
        try:
            target(*args)
        finally:
            os._exit(0)
    print(f"forked child {pid}", flush=True)
    return os.waitpid(pid, 0)[1]
