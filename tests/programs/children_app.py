"""Programs are judged one by one (#7): the application runs a shell that
lists a directory; the attack makes the same shell also run `cat`, a program
the trace never saw (the shell may start programs: it started `ls`).

    children_app.py benign DIR
    children_app.py attack DIR
"""
import subprocess
import sys

what, directory = sys.argv[1], sys.argv[2]
script = f"ls {directory} > /dev/null"
if what == "attack":
    script += "; cat /etc/hostname > /dev/null"
subprocess.run(["/bin/sh", "-c", script], check=False)
