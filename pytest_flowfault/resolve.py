"""Finding the exception class or atom class a dotted name (``package.module.Class``) stands
for, while running no code of anything named, beyond importing the project's own modules.
"""

from __future__ import annotations

import importlib
import importlib.machinery
import importlib.util
import sys
import types
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TypeGuard, cast

from pytest_flowfault.targets import is_atom_class

_MISSING = object()


class Refused(Exception):
    """The name stands for no class this reader may take; the text says why."""


# The slots behind module.__dict__ and cls.__dict__, taken from the builtin types: a
# metaclass or module cannot put code of its own in the way.
_MODULE_DICT = vars(types.ModuleType)["__dict__"]
_CLASS_DICT = vars(type)["__dict__"]


def _namespace(value: object) -> Mapping[str, object] | None:
    """The own names of a module or class (no __getattr__, property or descriptor runs)."""
    if _is_module(value):
        return _MODULE_DICT.__get__(value)  # type: ignore[no-any-return]
    if issubclass(type(value), type):
        return _CLASS_DICT.__get__(value)  # type: ignore[no-any-return]
    return None


def is_exception_class(value: object) -> TypeGuard[type[BaseException]]:
    # type(value), not isinstance(): an object's own __class__ is never consulted.
    return issubclass(type(value), type) and issubclass(cast(type, value), BaseException)


def _is_module(value: object) -> bool:
    return issubclass(type(value), types.ModuleType)


def exception_class_at(parts: Sequence[str], importable_from: Sequence[Path]) -> type[BaseException]:
    """The exception class ``parts`` (``['pkg', 'mod', 'Error']``) names, or :class:`Refused`
    (see :func:`class_at`)."""
    found = class_at(parts, importable_from, is_exception_class, "an exception class")
    return cast("type[BaseException]", found)


ATOM_CLASS = "a TaskFlow atom class, a Task or Retry subclass"


def atom_class_at(parts: Sequence[str], importable_from: Sequence[Path]) -> type:
    """The TaskFlow atom class (``Task``, ``Retry`` or a subclass) ``parts`` names, or
    :class:`Refused` (see :func:`class_at`)."""
    return class_at(parts, importable_from, is_atom_class, ATOM_CLASS)


def class_at(
    parts: Sequence[str],
    importable_from: Sequence[Path],
    accepts: Callable[[object], bool],
    what: str,
) -> type:
    """The class ``parts`` names if ``accepts`` it (``what`` says what that is), or
    :class:`Refused`.

    Each part is looked up in the own ``__dict__`` of a module or class, so no module
    ``__getattr__``, property, descriptor or metaclass runs. A module not imported yet is
    imported only if it lives in a folder of ``importable_from`` (the project's own).
    """
    roots = tuple(root.resolve() for root in importable_from)
    path = parts[0]
    found = _module(path, roots)
    if found is _MISSING:
        raise Refused(f"names nothing: there is no module {path!r}")
    for part in parts[1:]:
        namespace = _namespace(found)
        if namespace is None:
            break
        attribute = namespace.get(part, _MISSING)
        if attribute is _MISSING and "__path__" in namespace and _is_module(found):
            attribute = _module(f"{path}.{part}", roots)  # a submodule not imported yet
        if attribute is _MISSING:
            raise Refused(f"names nothing: {path} has no attribute {part!r}")
        found, path = attribute, f"{path}.{part}"
    if path != ".".join(parts) or not accepts(found):
        raise Refused(f"is not {what} ({path} is a {type(found).__name__})")
    return cast(type, found)


def _module(path: str, roots: tuple[Path, ...]) -> object:
    """``sys.modules[path]``, imported first if it is the project's own; _MISSING if
    there is no such module.

    Importing runs the module's top-level code, as ``import`` in a conftest.py would; no
    function of it is called, and nothing but a class is taken from it.
    Finding it first runs none: its parents are imported already (resolved in order).
    """
    if path in sys.modules:
        return sys.modules[path]
    try:
        spec = importlib.util.find_spec(path)
    except (ImportError, ValueError):
        spec = None
    if spec is None:
        return _MISSING
    if not _owned(spec, roots):
        where = ", ".join(str(root) for root in roots) or "none given"
        raise Refused(
            f"names module {path!r}, which is not imported yet and is not the project's "
            f"own (under {where}): no other module is imported for a name, since importing "
            f"runs its code; import it in a conftest.py to name its classes"
        )
    try:
        return importlib.import_module(path)
    except ModuleNotFoundError as problem:
        if problem.name == path:
            return _MISSING
        raise Refused(f"cannot be imported ({problem})") from None
    except Exception as problem:
        raise Refused(f"cannot be imported ({type(problem).__name__}: {problem})") from None


def _owned(spec: importlib.machinery.ModuleSpec, roots: tuple[Path, ...]) -> bool:
    """Whether the module ``spec`` finds lives in one of the project's folders."""
    places = [spec.origin] if spec.has_location and spec.origin else []
    places += list(spec.submodule_search_locations or [])
    return bool(places) and all(
        any(Path(place).resolve().is_relative_to(root) for root in roots) for place in places
    )
