"""The seed's Polynomial3 training loop on a dependency-free stand-in for torch.

Fits y = a + b x + c x^2 + d x^3 to sin(x). With --evil, forward() gains the
seed's one-line payload, `import os; os.system('ps')`, which secimport reports
(log mode) or stops before `ps` runs (kill mode).
"""
import argparse
import math
import os
import tempfile
import time

import tinynn

EVIL = False


class Polynomial3(tinynn.Module):
    def __init__(self):
        self.a = tinynn.Parameter()
        self.b = tinynn.Parameter()
        self.c = tinynn.Parameter()
        self.d = tinynn.Parameter()

    def forward(self, xs):
        """Like a tensor op: the whole batch at once."""
        if EVIL:
            import os; os.system('ps')  # noqa: E702 - the seed's payload, verbatim
        a, b, c, d = self.a.value, self.b.value, self.c.value, self.d.value
        return [a + b * x + c * x ** 2 + d * x ** 3 for x in xs]

    def backward(self, xs, grads):
        for x, g in zip(xs, grads):
            self.a.grad += g
            self.b.grad += g * x
            self.c.grad += g * x ** 2
            self.d.grad += g * x ** 3

    def string(self):
        return (f"y = {self.a.value} + {self.b.value} x + {self.c.value} x^2 "
                f"+ {self.d.value} x^3")


def main():
    global EVIL
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--evil", action="store_true", help="add os.system('ps') to forward()")
    ap.add_argument("--steps", type=int, default=300)
    args = ap.parse_args()
    EVIL = args.evil

    start = time.time()
    xs = [-math.pi + 2 * math.pi * i / 199 for i in range(200)]
    ys = [math.sin(x) for x in xs]
    model = Polynomial3()
    optimizer = tinynn.SGD(model.parameters(), lr=1e-5)
    for t in range(args.steps):
        y_pred = model(xs)
        loss, grads = tinynn.mse_loss(y_pred, ys)
        if t % 100 == 99:
            print(t, loss)
        optimizer.zero_grad()
        model.backward(xs, grads)
        optimizer.step()
        if EVIL:
            break  # one forward() is enough to show the payload
    print(f"Result: {model.string()}")
    out = os.path.join(tempfile.gettempdir(), f"polynomial3-{os.getpid()}.json")
    tinynn.save(model, out)
    os.remove(out)
    print("--- %s seconds ---" % (time.time() - start))


if __name__ == "__main__":
    main()
