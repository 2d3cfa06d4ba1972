"""Tree utilities with optax's long names: ``anyopt.tree_utils.tree_add`` ..."""

from anyopt._tree import add as tree_add
from anyopt._tree import add_scale as tree_add_scale
from anyopt._tree import allclose as tree_allclose
from anyopt._tree import bias_correction as tree_bias_correction
from anyopt._tree import cast as tree_cast
from anyopt._tree import cast_like as tree_cast_like
from anyopt._tree import clip as tree_clip
from anyopt._tree import div as tree_div
from anyopt._tree import dtype as tree_dtype
from anyopt._tree import full_like as tree_full_like
from anyopt._tree import max as tree_max
from anyopt._tree import mul as tree_mul
from anyopt._tree import norm as tree_norm
from anyopt._tree import ones_like as tree_ones_like
from anyopt._tree import random_like as tree_random_like
from anyopt._tree import scale as tree_scale
from anyopt._tree import size as tree_size
from anyopt._tree import split_key_like as tree_split_key_like
from anyopt._tree import sub as tree_sub
from anyopt._tree import sum as tree_sum
from anyopt._tree import update_infinity_moment as tree_update_infinity_moment
from anyopt._tree import update_moment as tree_update_moment
from anyopt._tree import update_moment_per_elem_norm as tree_update_moment_per_elem_norm
from anyopt._tree import vdot as tree_vdot
from anyopt._tree import where as tree_where
from anyopt._tree import zeros_like as tree_zeros_like

__all__ = [
    "tree_add",
    "tree_add_scale",
    "tree_allclose",
    "tree_bias_correction",
    "tree_cast",
    "tree_cast_like",
    "tree_clip",
    "tree_div",
    "tree_dtype",
    "tree_full_like",
    "tree_max",
    "tree_mul",
    "tree_norm",
    "tree_ones_like",
    "tree_random_like",
    "tree_scale",
    "tree_size",
    "tree_split_key_like",
    "tree_sub",
    "tree_sum",
    "tree_update_infinity_moment",
    "tree_update_moment",
    "tree_update_moment_per_elem_norm",
    "tree_vdot",
    "tree_where",
    "tree_zeros_like",
]
