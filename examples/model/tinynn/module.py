import random


class Parameter:
    def __init__(self, value=None):
        self.value = random.gauss(0.0, 1.0) if value is None else value
        self.grad = 0.0


class Module:
    def parameters(self):
        return [v for v in vars(self).values() if isinstance(v, Parameter)]

    def __call__(self, x):
        return self.forward(x)

    def forward(self, x):
        raise NotImplementedError
