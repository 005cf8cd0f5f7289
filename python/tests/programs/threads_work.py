"""Starting threads inside a guarded call is not a shell: it keeps working
(threading, a thread pool), and the guarded call returns normally.
Usage: threads_work.py LOG"""

import sys
import threading
from concurrent.futures import ThreadPoolExecutor

import secimport

log = sys.argv[1]


@secimport.sandboxed(log_file=log)
def work():
    results = []
    threads = [threading.Thread(target=lambda i=i: results.append(i * i)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    with ThreadPoolExecutor(max_workers=3) as pool:
        squares = list(pool.map(lambda x: x * x, range(10)))
    return sorted(results), sum(squares)


print("work:", work(), flush=True)
