"""Tree utilities with optax's long names: ``anyopt.tree_utils.tree_add`` ..."""

from anyopt._tree import add as tree_add
from anyopt._tree import add_scale as tree_add_scale
from anyopt._tree import allclose as tree_allclose
from anyopt._tree import bias_correction as tree_bias_correction
from anyopt._tree import cast as tree_cast
from anyopt._tree import cast_like as tree_cast_like
from anyopt._tree import clip as tree_clip
from anyopt._tree import div as tree_div
from anyopt._tree import full_like as tree_full_like
from anyopt._tree import mul as tree_mul
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
from anyopt.tree_utils._casting import tree_dtype as tree_dtype
from anyopt.tree_utils._random import tree_unwrap_random_key_data as tree_unwrap_random_key_data
from anyopt.tree_utils._state_utils import NamedTupleKey as NamedTupleKey
from anyopt.tree_utils._state_utils import tree_get as tree_get
from anyopt.tree_utils._state_utils import tree_get_all_with_path as tree_get_all_with_path
from anyopt.tree_utils._state_utils import tree_map_params as tree_map_params
from anyopt.tree_utils._state_utils import tree_set as tree_set
from anyopt.tree_utils._tree_math import tree_batch_shape as tree_batch_shape
from anyopt.tree_utils._tree_math import tree_conj as tree_conj
from anyopt.tree_utils._tree_math import tree_max as tree_max
from anyopt.tree_utils._tree_math import tree_min as tree_min
from anyopt.tree_utils._tree_math import tree_norm as tree_norm
from anyopt.tree_utils._tree_math import tree_real as tree_real

__all__ = [
    "NamedTupleKey",
    "tree_add",
    "tree_add_scale",
    "tree_allclose",
    "tree_batch_shape",
    "tree_bias_correction",
    "tree_cast",
    "tree_cast_like",
    "tree_clip",
    "tree_conj",
    "tree_div",
    "tree_dtype",
    "tree_full_like",
    "tree_get",
    "tree_get_all_with_path",
    "tree_map_params",
    "tree_max",
    "tree_min",
    "tree_mul",
    "tree_norm",
    "tree_ones_like",
    "tree_random_like",
    "tree_real",
    "tree_scale",
    "tree_set",
    "tree_size",
    "tree_split_key_like",
    "tree_sub",
    "tree_sum",
    "tree_unwrap_random_key_data",
    "tree_update_infinity_moment",
    "tree_update_moment",
    "tree_update_moment_per_elem_norm",
    "tree_vdot",
    "tree_where",
    "tree_zeros_like",
]
