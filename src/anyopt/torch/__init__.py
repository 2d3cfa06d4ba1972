"""anyopt for PyTorch training loops: any anyopt transformation as a ``torch.optim.Optimizer``.

Imported only when used (``import anyopt`` does not import torch)::

    import anyopt, anyopt.torch

    optimizer = anyopt.torch.Optimizer(model.named_parameters(), anyopt.adamw, lr=1e-3)
    optimizer = anyopt.torch.AdamW(model.parameters(), lr=1e-3)  # torch.optim.AdamW's twin
"""

from anyopt.torch._classes import SGD, Adadelta, Adagrad, Adam, Adamax, AdamW, NAdam, RAdam, RMSprop
from anyopt.torch._optimizer import Optimizer

__all__ = [
    "SGD",
    "Adadelta",
    "Adagrad",
    "Adam",
    "AdamW",
    "Adamax",
    "NAdam",
    "Optimizer",
    "RAdam",
    "RMSprop",
]
