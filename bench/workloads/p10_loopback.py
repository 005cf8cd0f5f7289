"""P10: a loopback request/response loop (a small RPC client and server).

usage: p10_loopback.py RESULT_JSON COUNT

A server thread answers each 64-byte request over a TCP connection on
127.0.0.1 with a 64-byte reply; the main thread sends COUNT requests and
reads each reply (send + recv on each side: four syscalls per round trip,
plus the socket, bind, listen, connect and accept once). Writes the
in-script timing as JSON to RESULT_JSON.
"""

import time

STARTED = time.monotonic()  # start-up: the harness compares it with its spawn time

import json
import socket
import sys
import threading


def serve(server: socket.socket, n: int) -> None:
    conn, _ = server.accept()
    with conn:
        for _ in range(n):
            data = conn.recv(64)
            conn.sendall(data)


def main():
    out, n = sys.argv[1], int(sys.argv[2])
    server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    server.bind(("127.0.0.1", 0))
    server.listen(1)
    t = threading.Thread(target=serve, args=(server, n))
    t.start()
    client = socket.create_connection(server.getsockname())
    client.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    msg = b"x" * 64
    c0, t0 = time.process_time(), time.perf_counter()
    for _ in range(n):
        client.sendall(msg)
        client.recv(64)
    elapsed, cpu = time.perf_counter() - t0, time.process_time() - c0
    client.close()
    t.join()
    server.close()
    with open(out, "w") as fh:
        json.dump({"workload": "p10_loopback", "started_monotonic": STARTED,
                   "elapsed_s": elapsed, "cpu_s": cpu, "round_trips": n}, fh)


if __name__ == "__main__":
    main()
