"""Loading a Python file that is not part of a package (a build script under fixtures/, an
experiment module under experiments/) as a module of its own."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

__all__ = ["load_file"]


def load_file(path: Path | str, name: str) -> ModuleType:
    """The module that executing `path` makes, named `name` (not registered in sys.modules)."""
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot load {path} as a module")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
