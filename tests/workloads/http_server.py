"""Acceptance workload: ThreadingHTTPServer with concurrent urllib clients.

    python http_server.py --root DIR [--requests N] [--concurrency N] [--paths P,P,...]

Serves DIR (SimpleHTTPRequestHandler) on 127.0.0.1:0 from a thread, fires N
GET requests over a thread pool (paths cycled), checks the status codes
(a path ending in ``!404`` must return 404), shuts down. Exit 0 on success.
"""
import argparse
import concurrent.futures
import functools
import http.server
import threading
import urllib.error
import urllib.request


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


def fetch(port, path):
    want = 200
    if path.endswith("!404"):
        path, want = path[:-4], 404
    url = f"http://127.0.0.1:{port}{path}"
    try:
        with urllib.request.urlopen(url, timeout=30) as resp:
            code, body = resp.status, resp.read()
    except urllib.error.HTTPError as e:
        code, body = e.code, e.read()
    assert code == want, (path, code)
    return len(body)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--root", required=True)
    ap.add_argument("--requests", type=int, default=20)
    ap.add_argument("--concurrency", type=int, default=20)
    ap.add_argument("--paths", default="/index.html,/data.txt")
    args = ap.parse_args()
    handler = functools.partial(QuietHandler, directory=args.root)
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    port = server.server_address[1]
    t = threading.Thread(target=server.serve_forever, daemon=True)
    t.start()
    paths = args.paths.split(",")
    try:
        with concurrent.futures.ThreadPoolExecutor(args.concurrency) as ex:
            sizes = list(ex.map(lambda i: fetch(port, paths[i % len(paths)]), range(args.requests)))
    finally:
        server.shutdown()
        server.server_close()
        t.join()
    print(f"http: {len(sizes)} requests, {sum(sizes)} bytes", flush=True)


if __name__ == "__main__":
    main()
