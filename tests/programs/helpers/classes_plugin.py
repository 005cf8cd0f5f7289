"""The plugin of classes_app.py: reads, a local socket and a thread when
benign; one dangerous form of a syscall it already uses otherwise."""
import os
import socket
import threading


def run(what: str, directory: str) -> None:
    with open(__file__) as f:
        f.read()
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.close()
    t = threading.Thread(target=len, args=("x",))
    t.start()
    t.join()
    if what == "write":
        with open(os.path.join(directory, "pwned"), "w") as f:
            f.write("written by the plugin\n")
    elif what == "inet":
        socket.socket(socket.AF_INET, socket.SOCK_STREAM).close()
    elif what == "fork":
        pid = os.fork()
        if pid == 0:
            os._exit(0)
        os.waitpid(pid, 0)
