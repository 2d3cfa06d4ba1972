"""anyopt for PyTorch training loops: any anyopt transformation as a ``torch.optim.Optimizer``.

Imported only when used (``import anyopt`` does not import torch)::

    import anyopt, anyopt.torch

    optimizer = anyopt.torch.Optimizer(model.named_parameters(), anyopt.adamw, lr=1e-3)
"""

from anyopt.torch._optimizer import Optimizer

__all__ = ["Optimizer"]
