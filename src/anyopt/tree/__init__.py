"""Tree utilities with optax's short names: ``anyopt.tree.add``, ``anyopt.tree.norm`` ..."""

from anyopt._tree import add as add
from anyopt._tree import add_scale as add_scale
from anyopt._tree import allclose as allclose
from anyopt._tree import bias_correction as bias_correction
from anyopt._tree import cast as cast
from anyopt._tree import cast_like as cast_like
from anyopt._tree import clip as clip
from anyopt._tree import div as div
from anyopt._tree import full_like as full_like
from anyopt._tree import mul as mul
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
from anyopt.tree_utils._casting import tree_dtype as dtype
from anyopt.tree_utils._random import tree_unwrap_random_key_data as unwrap_random_key_data
from anyopt.tree_utils._state_utils import tree_get as get
from anyopt.tree_utils._state_utils import tree_get_all_with_path as get_all_with_path
from anyopt.tree_utils._state_utils import tree_map_params as map_params
from anyopt.tree_utils._state_utils import tree_set as set  # noqa: A004
from anyopt.tree_utils._tree_math import tree_batch_shape as batch_shape
from anyopt.tree_utils._tree_math import tree_conj as conj
from anyopt.tree_utils._tree_math import tree_max as max  # noqa: A004
from anyopt.tree_utils._tree_math import tree_min as min  # noqa: A004
from anyopt.tree_utils._tree_math import tree_norm as norm
from anyopt.tree_utils._tree_math import tree_real as real

__all__ = [
    "add",
    "add_scale",
    "allclose",
    "batch_shape",
    "bias_correction",
    "cast",
    "cast_like",
    "clip",
    "conj",
    "div",
    "dtype",
    "full_like",
    "get",
    "get_all_with_path",
    "map_params",
    "max",
    "min",
    "mul",
    "norm",
    "ones_like",
    "random_like",
    "real",
    "scale",
    "set",
    "size",
    "split_key_like",
    "sub",
    "sum",
    "unwrap_random_key_data",
    "update_infinity_moment",
    "update_moment",
    "update_moment_per_elem_norm",
    "vdot",
    "where",
    "zeros_like",
]
