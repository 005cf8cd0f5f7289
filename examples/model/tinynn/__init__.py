"""A dependency-free stand-in for the parts of torch.nn the seed's example uses:
modules with parameters, a squared-error loss and SGD. Enough for a training
loop whose forward() can be tampered with."""
from tinynn.module import Module, Parameter
from tinynn.optim import SGD
from tinynn.loss import mse_loss
from tinynn.serialization import save

__all__ = ["Module", "Parameter", "SGD", "mse_loss", "save"]
