"""The C library's float64 math functions, called through ctypes: the independent
reference for the fused scalar program's ``LIBM`` operations."""

from __future__ import annotations

import ctypes
import ctypes.util

LIBC_MATH = ctypes.CDLL(ctypes.util.find_library("m"))
for _name in ("exp", "log", "pow", "tanh", "cos"):
    getattr(LIBC_MATH, _name).restype = ctypes.c_double
    getattr(LIBC_MATH, _name).argtypes = [ctypes.c_double] * (2 if _name == "pow" else 1)
