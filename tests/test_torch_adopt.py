"""anyopt.torch.Optimizer moving small parameters into its flat buffer (``adopt_params``).

Asked to, a group of many small parameters moves their memory once into the flat step's
buffer, so a step copies only gradients. It must not change a single number, must leave
alone parameters whose memory someone else can see, and must notice a parameter that moved
away afterwards. By default nothing moves and such groups are stepped where they are.
"""

from __future__ import annotations

import copy
import io

import numpy as np
import pytest

torch = pytest.importorskip("torch")

import anyopt  # noqa: E402
from anyopt.torch import Optimizer  # noqa: E402

STEPS = 12


def make_model(seed: int = 0) -> torch.nn.Module:
    torch.manual_seed(seed)
    return torch.nn.Sequential(torch.nn.Linear(6, 16), torch.nn.Tanh(), torch.nn.Linear(16, 1))


X = torch.randn(32, 6, generator=torch.Generator().manual_seed(1))
Y = torch.cos(X.sum(1, keepdim=True))


def train(model, optimizer, steps: int = STEPS) -> None:
    for _ in range(steps):
        optimizer.zero_grad()
        ((model(X) - Y) ** 2).mean().backward()
        optimizer.step()


def adam(model, adopt_params=True, **kw):
    return Optimizer(
        model.named_parameters(), anyopt.adam, lr=1e-2, adopt_params=adopt_params, **kw
    )


def storages(model) -> set:
    return {p.untyped_storage().data_ptr() for p in model.parameters()}


def runtime(optimizer):
    return optimizer._runtimes[0]


def assert_bitwise(a, b):
    for (name, p), q in zip(a.named_parameters(), b.parameters()):
        assert torch.equal(p, q), name


def test_adopted_parameters_share_one_buffer_and_give_the_same_numbers():
    model, kept = make_model(), make_model()
    params_before = list(model.parameters())
    opt, opt_kept = adam(model), adam(kept, adopt_params=False)
    pointers = [p.data_ptr() for p in kept.parameters()]
    train(model, opt)
    train(kept, opt_kept)
    assert runtime(opt).step_fn.mode == "flat"
    assert runtime(opt).adopted is not None and runtime(opt_kept).adopted is None
    assert len(storages(model)) == 1  # all four parameters are views of one buffer
    assert all(a is b for a, b in zip(model.parameters(), params_before))  # same objects
    assert [p.data_ptr() for p in kept.parameters()] == pointers
    assert_bitwise(model, kept)
    for p, q in zip(opt.state.values(), opt_kept.state.values()):
        assert all(torch.equal(p[k], q[k]) for k in p)


def test_memory_someone_else_holds_is_not_moved():
    model, ref = make_model(), make_model()
    held = model[0].weight.data  # a second tensor on the weight's memory
    opt = adam(model)
    train(model, opt)
    train(ref, adam(ref, adopt_params=False))
    assert runtime(opt).adopted is None
    assert torch.equal(held, model[0].weight)  # still the weight's memory, updated
    assert_bitwise(model, ref)


def test_memory_lent_by_numpy_is_not_moved():
    array = np.linspace(-1, 1, 12, dtype=np.float32)
    w = torch.nn.Parameter(torch.from_numpy(array))
    b = torch.nn.Parameter(torch.zeros(3))
    opt = Optimizer([("w", w), ("b", b)], anyopt.sgd, lr=0.1, adopt_params=True)
    w.grad, b.grad = torch.ones(12), torch.ones(3)
    opt.step()
    assert runtime(opt).step_fn.mode == "fused" and runtime(opt).adopted is None
    np.testing.assert_array_equal(array, np.linspace(-1, 1, 12, dtype=np.float32) - 0.1)


def test_parameters_that_are_views_of_one_tensor_are_not_moved():
    base = torch.arange(10.0)
    a, b = torch.nn.Parameter(base[:4]), torch.nn.Parameter(base[4:])
    opt = Optimizer([a, b], anyopt.sgd, lr=0.5, adopt_params=True)
    a.grad, b.grad = torch.ones(4), torch.ones(6)
    opt.step()
    assert runtime(opt).adopted is None
    torch.testing.assert_close(base, torch.arange(10.0) - 0.5, rtol=0, atol=0)


@pytest.mark.parametrize("how", ["data", "double_back", "load_in_place"])
def test_a_parameter_moved_after_adoption_is_still_updated(how):
    model, ref = make_model(), make_model()
    opt, opt_ref = adam(model), adam(ref, adopt_params=False)
    train(model, opt, 3)
    train(ref, opt_ref, 3)
    assert runtime(opt).adopted is not None
    if how == "data":
        model[2].bias.data = model[2].bias.data.clone()
    elif how == "double_back":
        model.double().float()  # new memory for every parameter, same values
    else:
        model.load_state_dict(copy.deepcopy(model.state_dict()))  # copies into the buffer
    train(model, opt, 4)
    train(ref, opt_ref, 4)
    assert (runtime(opt).adopted is None) == (how != "load_in_place")
    assert_bitwise(model, ref)


def test_rebuilt_and_reloaded_groups_adopt_again_and_continue_identically():
    model, ref = make_model(), make_model()
    opt = Optimizer(model.named_parameters(), anyopt.sgd, lr=0.05, momentum=0.9, adopt_params=True)
    opt_ref = Optimizer(
        ref.named_parameters(), anyopt.sgd, lr=0.05, momentum=0.9, adopt_params=False
    )
    train(model, opt, 3)
    train(ref, opt_ref, 3)
    for o in (opt, opt_ref):
        o.param_groups[0]["nesterov"] = True  # a static argument: the group is rebuilt
    train(model, opt, 3)
    train(ref, opt_ref, 3)
    assert runtime(opt).adopted is not None
    buffer = io.BytesIO()
    torch.save(opt.state_dict(), buffer)
    buffer.seek(0)
    opt.load_state_dict(torch.load(buffer))
    train(model, opt, 3)
    train(ref, opt_ref, 3)
    assert runtime(opt).adopted is not None and len(storages(model)) == 1
    assert_bitwise(model, ref)


def test_skipped_parameters_and_model_state_dict_on_adopted_parameters():
    model, ref = make_model(), make_model()
    opt, opt_ref = adam(model), adam(ref, adopt_params=False)
    train(model, opt, 2)
    train(ref, opt_ref, 2)
    for m, o in ((model, opt), (ref, opt_ref)):
        o.zero_grad()
        ((m(X) - Y) ** 2).mean().backward()
        m[0].bias.grad = None  # not stepped, as in torch
        o.step()
    assert_bitwise(model, ref)
    saved = io.BytesIO()
    torch.save(model.state_dict(), saved)
    saved.seek(0)
    loaded = make_model(seed=5)
    loaded.load_state_dict(torch.load(saved))
    assert_bitwise(loaded, model)


def test_by_default_small_parameters_stay_and_are_stepped_in_place():
    model, ref = make_model(), make_model()
    pointers = [p.data_ptr() for p in model.parameters()]
    opt = Optimizer(model.named_parameters(), anyopt.adam, lr=1e-2)
    train(model, opt)
    train(ref, adam(ref))  # moved into the flat buffer
    assert runtime(opt).step_fn.mode == "fused" and runtime(opt).adopted is None
    assert [p.data_ptr() for p in model.parameters()] == pointers
    assert_bitwise(model, ref)
    flat = Optimizer(model.named_parameters(), anyopt.adam, lr=1e-2, step_mode="flat")
    train(model, flat, 1)
    assert runtime(flat).step_fn.mode == "flat" and runtime(flat).adopted is None


def test_adopt_params_survives_pickling_the_optimizer():
    model = make_model()
    opt = adam(model)
    clone = copy.deepcopy(opt)
    assert clone._adopt_params is True and copy.deepcopy(adam(model, False))._adopt_params is False


def test_step_adopted_needs_the_flat_mode_and_all_leaves():
    params = {"a": torch.zeros(3), "b": torch.zeros(2)}
    step = anyopt.make_step(anyopt.sgd(0.1), "flat")
    state = step.init(params)
    adopted = step.adopt(params)
    state = step.step_adopted([torch.ones(3), torch.ones(2)], state)
    torch.testing.assert_close(adopted["a"], torch.full((3,), -0.1), rtol=0, atol=0)
    with pytest.raises(ValueError, match="holds 2 leaves; got 1"):
        step.step_adopted([torch.ones(3)], state)
    fused = anyopt.make_step(anyopt.sgd(0.1), "fused")
    fused.init(params)
    with pytest.raises(ValueError, match="needs mode 'flat'; this step is 'fused'"):
        fused.step_adopted([torch.ones(3), torch.ones(2)], state)


def test_adopt_params_must_be_a_bool():
    with pytest.raises(TypeError, match="adopt_params must be True or False; got 'yes'"):
        Optimizer(make_model().parameters(), anyopt.sgd, lr=0.1, adopt_params="yes")
