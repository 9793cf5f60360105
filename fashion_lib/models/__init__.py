"""A tiny model registry: `@register_model`, `create_model(name, **kwargs)`, `list_models()`.

Names encode the configuration (``m3net_small``, ``asen_r50``...). Every module of this package is
imported the first time the registry is queried, so a new model file registers itself simply by
existing; this module knows no model by name.
"""

from __future__ import annotations

import fnmatch
import importlib
import pkgutil
from collections.abc import Callable
from typing import TypeVar

from torch import nn

from fashion_lib.errors import ConfigError

__all__ = ["create_model", "list_models", "model_module", "register_model"]

Factory = TypeVar("Factory", bound=Callable[..., nn.Module])

_REGISTRY: dict[str, Callable[..., nn.Module]] = {}
_LOADED = False


def register_model(factory: Factory) -> Factory:
    """Register a model factory under its function name.

    Args:
        factory: a function returning an ``nn.Module``; its ``__name__`` is the model name.

    Returns:
        The factory, unchanged (so the decorator can be stacked or the function called directly).

    Raises:
        ConfigError: if another factory already uses the name.
    """
    name = factory.__name__
    if name in _REGISTRY and _REGISTRY[name] is not factory:
        raise ConfigError(f"model {name!r} is registered twice ({factory.__module__})")
    _REGISTRY[name] = factory
    return factory


def _load_all() -> None:
    """Import every module of this package once, so that their decorators run."""
    global _LOADED
    if _LOADED:
        return
    for info in pkgutil.iter_modules(__path__):
        if not info.name.startswith("_"):
            importlib.import_module(f"{__name__}.{info.name}")
    _LOADED = True


def list_models(pattern: str = "*", module: str | None = None) -> list[str]:
    """Sorted names of the registered models.

    Args:
        pattern: an fnmatch pattern on the name, e.g. ``"m3net_*"``.
        module: keep only factories defined in this module (e.g. ``"fashion_lib.models.asen"``).

    Returns:
        The matching names, sorted.
    """
    _load_all()
    return sorted(
        name
        for name, factory in _REGISTRY.items()
        if fnmatch.fnmatch(name, pattern) and (module is None or factory.__module__ == module)
    )


def model_module(name: str) -> str:
    """The module that defines the factory ``name`` (lets tests group models by family)."""
    _load_all()
    if name not in _REGISTRY:
        raise ConfigError(f"unknown model {name!r}; known: {', '.join(sorted(_REGISTRY))}")
    return _REGISTRY[name].__module__


def create_model(name: str, **kwargs: object) -> nn.Module:
    """Build the registered model ``name``.

    Args:
        name: a name from ``list_models()``.
        **kwargs: passed to the factory (each factory documents its own arguments).

    Returns:
        The model, freshly initialised (never downloads weights).

    Raises:
        ConfigError: if the name is unknown.
    """
    _load_all()
    try:
        factory = _REGISTRY[name]
    except KeyError:
        known = ", ".join(sorted(_REGISTRY))
        raise ConfigError(f"unknown model {name!r}; known: {known}") from None
    return factory(**kwargs)
