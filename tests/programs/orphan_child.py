"""Starts a Python child that outlives the program, writes its pid to argv[1],
then sleeps argv[2] seconds (0: exit at once). Proves that the tree is not
left running unsupervised: when the program exits, the leftover child is
killed; when the supervisor dies, the whole tree dies with it."""
import subprocess
import sys
import time

# The child says when it is idle (asleep, making no syscalls), so a test can
# check that it is killed even though it never enters the kernel again.
child = subprocess.Popen(
    [sys.executable, "-c", "import sys, time; open(sys.argv[1], 'w').write('1'); time.sleep(60)", sys.argv[1] + ".ready"]
)
with open(sys.argv[1], "w") as f:
    f.write(str(child.pid))
time.sleep(float(sys.argv[2]))
