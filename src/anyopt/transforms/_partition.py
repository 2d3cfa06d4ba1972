"""Parameter groups: a different transformation for each labelled subset of the parameters."""

from __future__ import annotations

from collections.abc import Callable, Hashable, Mapping
from typing import Any, NamedTuple, Union

from anyopt import backends
from anyopt._base import (
    GradientTransformation,
    GradientTransformationExtraArgs,
    OptState,
    with_extra_args_support,
)
from anyopt.transforms._masking import masked
from anyopt.transforms._prefix import check_prefix


class PartitionState(NamedTuple):
    """One inner state per label: ``inner_states[label]`` is a ``MaskedState``."""

    inner_states: Mapping[Hashable, OptState]


def _check_labels(labels: Any, tree: Any, known: Mapping) -> None:
    check_prefix(labels, tree, "param_labels", "anyopt.partition")
    for path, label in backends.leaves_with_path(labels):
        if label not in known:
            raise ValueError(
                f"anyopt.partition: the parameters at {path} have the label {label!r}, which "
                f"has no transformation; the labels of transforms are {list(known)}"
            )


def partition(
    transforms: Mapping[Hashable, GradientTransformation],
    param_labels: Union[Any, Callable[[Any], Any]],
    *,
    mask_compatible_extra_args: bool = False,
) -> GradientTransformationExtraArgs:
    """Applies ``transforms[label]`` to the parameters labelled ``label``.

    ``param_labels`` is a tree of labels, the parameters' tree or a prefix of it (a label
    then covers a whole subtree), or a function of the parameters returning one. Each
    transformation runs as ``masked(tx, labels == label)``, so it sees (and keeps state
    for) only its own parameters; every label must be a key of ``transforms``.
    ``mask_compatible_extra_args`` masks extra arguments shaped like the updates too.

    Example: Adam for the weights, SGD for the biases::

        labels = {"w": "adam", "b": "sgd"}
        tx = anyopt.partition({"adam": anyopt.adam(1e-3), "sgd": anyopt.sgd(1e-2)}, labels)
    """
    transforms = {k: with_extra_args_support(v) for k, v in transforms.items()}

    def labels_for(tree):
        labels = param_labels(tree) if callable(param_labels) else param_labels
        _check_labels(labels, tree, transforms)
        return labels

    def group(label, labels, tx):
        leaves, treedef = backends.flatten(labels)
        mask = backends.unflatten(treedef, [x == label for x in leaves])
        return masked(tx, mask, mask_compatible_extra_args=mask_compatible_extra_args)

    def init_fn(params):
        labels = labels_for(params)
        return PartitionState(
            {label: group(label, labels, tx).init(params) for label, tx in transforms.items()}
        )

    def update_fn(updates, state, params=None, **extra_args):
        labels = labels_for(updates)
        inner_states = {}
        for label, tx in transforms.items():
            updates, inner_states[label] = group(label, labels, tx).update(
                updates, state.inner_states[label], params, **extra_args
            )
        return updates, PartitionState(inner_states)

    return GradientTransformationExtraArgs(init_fn, update_fn)
