"""Old names that still work: each warns once it is used, naming what replaced it."""

from __future__ import annotations

import functools
import importlib
import sys
import warnings
from collections.abc import Callable, Mapping
from typing import Any, TypeVar, cast


def moved(old: str, new: str) -> None:
    """Make the module ``old`` (being imported now) the module ``new``, with a DeprecationWarning naming it."""
    warnings.warn(f"{old} has moved to {new}; import it from there", DeprecationWarning, stacklevel=3)
    sys.modules[old] = importlib.import_module(new)


def renamed(module: str, names: Mapping[str, tuple[str, object]]) -> Callable[[str], object]:
    """A module ``__getattr__`` that answers each old name in ``names`` with its new object, and a warning.

    Args:
        module: the module's ``__name__``, for the messages.
        names: old name -> (new name, the object it now is).

    Example:
        >>> __getattr__ = renamed(__name__, {"Bottleneck": ("RecognisedBlock", RecognisedBlock)})
    """

    def __getattr__(name: str) -> object:
        if name not in names:
            raise AttributeError(f"module {module!r} has no attribute {name!r}")
        new, value = names[name]
        warnings.warn(f"{module}.{name} is deprecated: use {module}.{new}", DeprecationWarning, stacklevel=2)
        return value

    return __getattr__


_F = TypeVar("_F", bound=Callable[..., Any])


def renamed_argument(old: str, new: str) -> Callable[[_F], _F]:
    """A decorator: the keyword argument ``old`` still works, with a DeprecationWarning, as ``new``.

    Example:
        >>> @renamed_argument("width", "base_width")
        ... def resnext(depth, cardinality, base_width): ...
    """

    def decorate(function: _F) -> _F:
        @functools.wraps(function)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            if old in kwargs:
                if new in kwargs:
                    raise TypeError(f"{function.__name__}() got both {old}= and {new}=; {old} is the old name of {new}")
                warnings.warn(
                    f"{function.__name__}(): the argument {old}= is now {new}=", DeprecationWarning, stacklevel=2
                )
                kwargs[new] = kwargs.pop(old)
            return function(*args, **kwargs)

        return cast("_F", wrapper)

    return decorate
