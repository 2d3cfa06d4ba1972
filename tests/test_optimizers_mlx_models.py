"""anyopt.optimizers in place of mlx.optimizers on real MLX models: compiled training steps
with parameterless layers, and optimizer states exchanged with MLX's own classes
(checkpoints written by one load into the other and continue identically)."""

from __future__ import annotations

from functools import partial

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as mlx_optim
import numpy as np
import pytest
from mlx.utils import tree_flatten, tree_unflatten

import anyopt.optimizers as optim

BUILDERS = {
    "SGD": lambda lib: lib.SGD(0.05, momentum=0.9, weight_decay=1e-3),
    "Adam": lambda lib: lib.Adam(1e-2, bias_correction=True),
    "AdamW": lambda lib: lib.AdamW(lib.cosine_decay(1e-2, 40)),
    "RMSprop": lambda lib: lib.RMSprop(1e-3),
    "Lion": lambda lib: lib.Lion(1e-3, weight_decay=0.1),
    "Adafactor": lambda lib: lib.Adafactor(),
    "Muon": lambda lib: lib.Muon(0.02),
}


def model():
    """An MLP with parameterless layers (ReLU, Dropout(0)) between the Linear ones."""
    mx.random.seed(0)
    return nn.Sequential(nn.Linear(3, 8), nn.ReLU(), nn.Dropout(0.0), nn.Linear(8, 2))


def batch():
    rng = np.random.default_rng(0)
    x = mx.array(rng.standard_normal((16, 3)).astype(np.float32))
    return x, mx.array(rng.standard_normal((16, 2)).astype(np.float32))


def loss_fn(m, x, y):
    return nn.losses.mse_loss(m(x), y)


def train(lib, name, steps, compiled, start=None):
    """Losses and the final (model, optimizer) after ``steps`` steps."""
    m, opt = model(), BUILDERS[name](lib)
    if start is not None:
        m.update(start[0])
        opt.state = start[1]
    x, y = batch()

    def step(x, y):
        loss, grads = nn.value_and_grad(m, loss_fn)(m, x, y)
        opt.update(m, grads)
        return loss

    if compiled:
        state = [m.state, opt.state]
        step = partial(mx.compile, inputs=state, outputs=state)(step)
    losses = []
    for _ in range(steps):
        losses.append(step(x, y).item())
        mx.eval(m.parameters(), opt.state)
    return losses, m, opt


@pytest.mark.parametrize("compiled", [False, True])
@pytest.mark.parametrize("name", sorted(BUILDERS))
def test_training_matches_mlx_optimizers(name, compiled):
    want, mlx_model, _ = train(mlx_optim, name, 30, compiled)
    got, our_model, opt = train(optim, name, 30, compiled)
    np.testing.assert_allclose(got, want, rtol=2e-5, atol=1e-7)
    for (path, a), (_, b) in zip(
        tree_flatten(our_model.parameters()), tree_flatten(mlx_model.parameters())
    ):
        np.testing.assert_allclose(np.array(a), np.array(b), rtol=2e-5, atol=1e-7, err_msg=path)
    assert opt.state["layers"][1] == {} and opt.state["layers"][2] == {}  # parameterless


def _copy(tree):
    return tree_unflatten([(k, mx.array(v)) for k, v in tree_flatten(tree)])


@pytest.mark.parametrize("name", sorted(BUILDERS))
@pytest.mark.parametrize("direction", ["mlx_to_anyopt", "anyopt_to_mlx"])
def test_states_load_across_libraries_and_continue_identically(name, direction):
    first, second = (mlx_optim, optim) if direction == "mlx_to_anyopt" else (optim, mlx_optim)
    _, m, opt = train(first, name, 10, compiled=False)
    # A checkpoint as MLX writes one: names -> arrays, through safetensors' flat layout.
    checkpoint = dict(tree_flatten(opt.state))
    assert all(isinstance(v, mx.array) for v in checkpoint.values())
    params = _copy(m.parameters())
    resumed, _, resumed_opt = train(
        second, name, 10, False, (params, tree_unflatten(list(checkpoint.items())))
    )
    reference, _, _ = train(first, name, 10, False, (_copy(m.parameters()), _copy(opt.state)))
    np.testing.assert_allclose(resumed, reference, rtol=2e-5, atol=1e-7)
    assert resumed_opt.step.item() == 20 and resumed_opt.step.dtype == mx.uint64


@pytest.mark.parametrize("lib", [mlx_optim, optim], ids=["mlx", "anyopt"])
def test_setting_the_learning_rate_between_compiled_steps_does_not_retrace(lib):
    m, opt = model(), lib.AdamW(1e-2)
    x, y = batch()
    state = [m.state, opt.state]
    traces = []

    @partial(mx.compile, inputs=state, outputs=state)
    def step(x, y):
        traces.append(1)
        loss, grads = nn.value_and_grad(m, loss_fn)(m, x, y)
        opt.update(m, grads)
        return loss

    step(x, y)
    step(x, y)  # the first call's state held no moments yet: one retrace, as in MLX
    before = len(traces)
    for lr in (5e-3, 1e-3, 0.0):
        opt.learning_rate = lr
        step(x, y)
    assert len(traces) == before
    weight = np.array(m.layers[0].weight)
    step(x, y)  # learning rate 0: AdamW leaves the weights where they are
    np.testing.assert_array_equal(np.array(m.layers[0].weight), weight)
