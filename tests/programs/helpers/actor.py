"""The plugin of deny_app.py: harmless work when benign; otherwise one
forbidden action, whose outcome it returns (the program goes on)."""
import os
import socket
import subprocess
import threading


def benign(directory: str) -> str:
    """Reads its input, on a thread of its own and in a forked child too."""
    os.getppid()
    with open(os.path.join(directory, "input.txt")) as f:
        text = f.read()
    t = threading.Thread(target=os.getppid)
    t.start()
    t.join()
    pid = os.fork()
    if pid == 0:
        os.getppid()
        os._exit(0)
    os.waitpid(pid, 0)
    return text


def shell(directory: str) -> str:
    marker = os.path.join(directory, "shell-ran")
    try:
        rc = os.system("touch " + marker)
        return f"os.system returned {rc}"
    except OSError as e:
        return f"os.system raised {type(e).__name__}"


def spawn(directory: str) -> str:
    marker = os.path.join(directory, "spawn-ran")
    try:
        rc = subprocess.run(["/usr/bin/touch", marker]).returncode
        return f"subprocess returned {rc}"
    except OSError as e:
        return f"subprocess raised {type(e).__name__}"


def connect(port: str) -> str:
    try:
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    except OSError as e:
        return f"socket raised {type(e).__name__}"
    try:
        s.connect(("127.0.0.1", int(port)))
        return "connected"
    except OSError as e:
        return f"connect raised {type(e).__name__}"
    finally:
        s.close()


def create(directory: str) -> str:
    try:
        with open(os.path.join(directory, "created.txt"), "w") as f:
            f.write("x")
        return "created"
    except OSError as e:
        return f"create raised {type(e).__name__}"


def truncate(directory: str) -> str:
    try:
        with open(os.path.join(directory, "input.txt"), "w"):
            pass
        return "truncated"
    except OSError as e:
        return f"truncate raised {type(e).__name__}"


def thread_shell(directory: str) -> str:
    out = []
    t = threading.Thread(target=lambda: out.append(shell(directory)))
    t.start()
    t.join()
    return "thread: " + out[0]


def fork_shell(directory: str) -> str:
    pid = os.fork()
    if pid == 0:
        print("child: " + shell(directory), flush=True)
        os._exit(0)
    os.waitpid(pid, 0)
    return "forked"
