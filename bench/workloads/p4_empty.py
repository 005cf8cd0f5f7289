# P4: an empty script; bench.py times the whole command, i.e. start-up and shutdown.
