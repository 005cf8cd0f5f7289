"""Acceptance workload: asyncio subprocesses and a loopback TCP server/client.

    python asyncio_io.py [--clients N] [--messages N] [--size BYTES] [--cmd ARG...]

Runs the command (default: /bin/echo hello) with create_subprocess_exec and
reads its output, then starts a TCP echo server on 127.0.0.1:0 and has N
clients each send M messages of SIZE bytes and check the echo. Exit 0 on success.
"""
import argparse
import asyncio


async def handle(reader, writer):
    while True:
        line = await reader.readline()
        if not line:
            break
        writer.write(line)
        await writer.drain()
    writer.close()
    await writer.wait_closed()


async def client(port, idx, messages, size):
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    for m in range(messages):
        payload = (f"{idx}:{m}:".encode() + b"x" * size)[:max(size, 8)] + b"\n"
        writer.write(payload)
        await writer.drain()
        echo = await reader.readline()
        assert echo == payload, (idx, m)
    writer.close()
    await writer.wait_closed()
    return messages


async def main(args):
    proc = await asyncio.create_subprocess_exec(
        *args.cmd, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await proc.communicate()
    assert proc.returncode == 0, (proc.returncode, err)
    print(f"subprocess {args.cmd[0]}: {len(out)} bytes", flush=True)

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    async with server:
        done = await asyncio.gather(
            *(client(port, i, args.messages, args.size) for i in range(args.clients)))
    print(f"tcp: {sum(done)} messages echoed over {args.clients} connections", flush=True)


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--clients", type=int, default=4)
    ap.add_argument("--messages", type=int, default=20)
    ap.add_argument("--size", type=int, default=64)
    ap.add_argument("--cmd", nargs="+", default=["/bin/echo", "hello"])
    asyncio.run(main(ap.parse_args()))
