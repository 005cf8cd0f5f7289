"""Stop mode can be resumed: makes `getsid` (which completes before the stop
takes effect), then forks (a `clone` that the stop interrupts: after SIGCONT
it must be made, once, rather than stop the process again). The child exits
with 3; the parent prints what it saw and exits 0. The tests run it under a
policy that allows neither `getsid` nor `clone`."""
import os


def _exit_code(status):
    """os.waitstatus_to_exitcode (3.9+), for every supported version."""
    return os.WEXITSTATUS(status) if os.WIFEXITED(status) else -os.WTERMSIG(status)


sid = os.getsid(0)
pid = os.fork()
if pid == 0:
    os._exit(3)
_, status = os.waitpid(pid, 0)
# The session id may be 0 (a session led from outside our pid namespace, as
# in some CI containers): only that getsid completed matters.
print(f"getsid {sid >= 0}; child exited {_exit_code(status)}", flush=True)
