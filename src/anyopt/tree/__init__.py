"""Tree utilities with optax's short names: ``anyopt.tree.add``, ``anyopt.tree.norm`` ..."""

from anyopt._tree import add as add
from anyopt._tree import add_scale as add_scale
from anyopt._tree import allclose as allclose
from anyopt._tree import bias_correction as bias_correction
from anyopt._tree import cast as cast
from anyopt._tree import cast_like as cast_like
from anyopt._tree import clip as clip
from anyopt._tree import div as div
from anyopt._tree import dtype as dtype
from anyopt._tree import full_like as full_like
from anyopt._tree import max as max  # noqa: A004
from anyopt._tree import mul as mul
from anyopt._tree import norm as norm
from anyopt._tree import ones_like as ones_like
from anyopt._tree import random_like as random_like
from anyopt._tree import scale as scale
from anyopt._tree import size as size
from anyopt._tree import split_key_like as split_key_like
from anyopt._tree import sub as sub
from anyopt._tree import sum as sum  # noqa: A004
from anyopt._tree import update_infinity_moment as update_infinity_moment
from anyopt._tree import update_moment as update_moment
from anyopt._tree import update_moment_per_elem_norm as update_moment_per_elem_norm
from anyopt._tree import vdot as vdot
from anyopt._tree import where as where
from anyopt._tree import zeros_like as zeros_like

__all__ = [
    "add",
    "add_scale",
    "allclose",
    "bias_correction",
    "cast",
    "cast_like",
    "clip",
    "div",
    "dtype",
    "full_like",
    "max",
    "mul",
    "norm",
    "ones_like",
    "random_like",
    "scale",
    "size",
    "split_key_like",
    "sub",
    "sum",
    "update_infinity_moment",
    "update_moment",
    "update_moment_per_elem_norm",
    "vdot",
    "where",
    "zeros_like",
]
