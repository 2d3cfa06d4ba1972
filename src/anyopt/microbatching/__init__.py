"""``anyopt.microbatching``: optax's microbatching (``microbatch``, ``micro_vmap``,
``micro_grad``) on JAX, PyTorch, MLX and NumPy."""

from anyopt.microbatching._accumulators import AccumulationType as AccumulationType
from anyopt.microbatching._accumulators import Accumulator as Accumulator
from anyopt.microbatching._microbatching import micro_grad as micro_grad
from anyopt.microbatching._microbatching import micro_vmap as micro_vmap
from anyopt.microbatching._microbatching import microbatch as microbatch
from anyopt.microbatching._microbatching import reshape_batch_axis as reshape_batch_axis

__all__ = [
    "AccumulationType",
    "Accumulator",
    "micro_grad",
    "micro_vmap",
    "microbatch",
    "reshape_batch_axis",
]
