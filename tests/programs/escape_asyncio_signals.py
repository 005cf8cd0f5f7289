"""No false positives (issue #6): asyncio with signal handlers and a subprocess, under the policy of one
traced run.

The event loop handles SIGUSR1 with loop.add_signal_handler; the program sends itself SIGUSR1 eight
times between bits of work (the signal is caught in C, written to the loop's wakeup fd, and handled on a
later loop iteration, wherever the stack happens to be), then runs `true` with
asyncio.create_subprocess_exec and waits for it (a child watcher thread reaps it).
"""

import asyncio
import os
import signal
import sys

SIGNALS = 8


async def work(n):
    total = 0
    for i in range(2000 * (n + 1)):
        total += i * i
    await asyncio.sleep(0.002)
    return total


async def main():
    loop = asyncio.get_running_loop()
    received = 0
    all_received = asyncio.Event()

    def on_usr1():
        nonlocal received
        received += 1
        if received == SIGNALS:
            all_received.set()

    loop.add_signal_handler(signal.SIGUSR1, on_usr1)
    try:
        for n in range(SIGNALS):
            os.kill(os.getpid(), signal.SIGUSR1)
            await work(n)
        await asyncio.wait_for(all_received.wait(), 10)
        proc = await asyncio.create_subprocess_exec("true")
        code = await asyncio.wait_for(proc.wait(), 10)
    finally:
        loop.remove_signal_handler(signal.SIGUSR1)
    if code != 0:
        return f"escape_asyncio_signals.py: `true` exited with {code}"
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
