"""A pytest plugin that points optax's own test files at anyopt.

Loaded with ``-p anyopt_as_optax``. It imports the real optax, then replaces every
``optax...`` module in ``sys.modules`` by a proxy: a name that optax exports publicly
(``optax.adam``, ``optax.contrib.muon``, ``optax.tree.add`` ...) resolves to anyopt's
object at the same public place, wherever the test reaches it from
(``from optax._src import alias; alias.adam``). A public name anyopt lacks raises
AttributeError, so the test fails. Only names optax never exports publicly (its private
helpers and test utilities) come from optax itself.
"""

from __future__ import annotations

import importlib
import pkgutil
import sys
import types
import warnings

import optax

import anyopt

_MISSING = object()


def _public_names(module) -> list[str]:
    names = set(getattr(module, "__all__", ())) | set(dir(module))
    return sorted(n for n in names if not n.startswith("_"))


def _public_places() -> dict[int, str]:
    """id(object) -> its public dotted path in optax (top level first)."""
    places: dict[int, str] = {}
    submodules = [(n, getattr(optax, n)) for n in _public_names(optax)]
    roots = [("", optax)] + [
        (f"{n}.", m)
        for n, m in submodules
        if isinstance(m, types.ModuleType) and m.__name__.startswith("optax")
    ]
    for prefix, module in roots:
        for name in _public_names(module):
            obj = getattr(module, name, None)
            if obj is None or isinstance(obj, types.ModuleType):
                continue
            if isinstance(obj, (int, float, str, bool)):
                continue
            places.setdefault(id(obj), prefix + name)
    return places


def _resolve_in_anyopt(dotted: str):
    obj = anyopt
    for part in dotted.split("."):
        obj = getattr(obj, part, _MISSING)
        if obj is _MISSING:
            raise AttributeError(f"anyopt has no {dotted} (optax.{dotted} is public)")
    return obj


class _Proxy(types.ModuleType):
    def __init__(self, real: types.ModuleType, places: dict[int, str]):
        super().__init__(real.__name__, real.__doc__)
        object.__setattr__(self, "_real", real)
        object.__setattr__(self, "_places", places)
        for attr in ("__file__", "__path__", "__spec__", "__loader__", "__package__"):
            if hasattr(real, attr):
                object.__setattr__(self, attr, getattr(real, attr))

    def __getattr__(self, name: str):
        real = object.__getattribute__(self, "_real")
        obj = getattr(real, name)
        if isinstance(obj, types.ModuleType):
            return sys.modules.get(obj.__name__, obj)
        place = object.__getattribute__(self, "_places").get(id(obj))
        if place is None:
            return obj  # a private helper or test utility of optax
        return _resolve_in_anyopt(place)


def _import_everything() -> None:
    for info in pkgutil.walk_packages(optax.__path__, "optax."):
        if info.name.endswith("_test") or ".experimental" in info.name:
            continue
        try:
            importlib.import_module(info.name)
        except ImportError:
            pass


def install() -> None:
    _import_everything()
    with warnings.catch_warnings():  # optax's deprecated top-level names warn when read
        warnings.simplefilter("ignore", DeprecationWarning)
        places = _public_places()
    for name, module in list(sys.modules.items()):
        if (name == "optax" or name.startswith("optax.")) and not isinstance(module, _Proxy):
            if name.endswith("_test"):
                continue
            sys.modules[name] = _Proxy(module, places)


def pytest_configure(config) -> None:
    install()
