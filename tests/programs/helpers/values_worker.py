"""The worker of values_app.py: the same syscalls, benign or other values."""
import os
import socket
import subprocess
import threading


def serve_once(server: socket.socket) -> None:
    conn, _ = server.accept()
    conn.recv(16)
    conn.close()


def work(what: str, directory: str) -> None:
    program = "/bin/sh" if what == "exec" else "/bin/true"
    args = [program, "-c", "touch " + os.path.join(directory, "pwned")] if what == "exec" else [program]
    subprocess.run(args, check=False)

    with open(os.path.join(directory, "out", "result.txt"), "w") as f:
        f.write("result\n")
    with open(os.path.join("out", "relative.txt"), "w") as f:
        f.write("relative\n")
    if what == "write":
        with open(os.path.join(directory, "elsewhere", "x"), "w") as f:
            f.write("not here\n")

    server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    server.bind(("127.0.0.1", 0))
    server.listen(1)
    t = threading.Thread(target=serve_once, args=(server,))
    t.start()
    client = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    client.connect(server.getsockname())
    client.sendall(b"hello")
    client.close()
    t.join()
    server.close()
    if what == "connect":
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.settimeout(0.2)
        s.connect_ex(("192.0.2.1", 9))
        s.close()
