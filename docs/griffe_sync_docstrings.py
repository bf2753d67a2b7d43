"""A griffe extension (used by mkdocs.yml): the sync wrappers get their run-time docstrings.

The methods of ``SyncClient`` and ``SyncRequestHandle`` (and of the sync mixins they inherit from)
have no docstring in their source: ``fal_client._sync._share_docstrings`` copies each one from its
``AsyncClient``/``AsyncRequestHandle`` namesake at import time, so that every docstring is written
once. griffe reads the source statically and would render those methods bare. This extension
imports the listed classes after griffe has loaded the package and, for every public member that
griffe found without a docstring, takes the ``__doc__`` the running code has. Everything else
(signatures, source order, attribute docstrings) stays from the static analysis.

A public member that still has no docstring afterwards is reported as a warning, so the strict
build fails instead of publishing a bare signature.
"""

from __future__ import annotations

import importlib
import inspect
from typing import Any

import griffe


class SyncDocstrings(griffe.Extension):
    """Fill the missing docstrings of the members of ``classes`` from the imported objects."""

    def __init__(self, classes: list[str]) -> None:
        self.classes = classes

    # griffe >= 1.14 calls on_package; older releases call on_package_loaded (some without the
    # loader, so neither hook needs it). Both together are harmless: a docstring is only ever
    # filled in where there is none.
    def on_package(self, *, pkg: griffe.Module, **kwargs: Any) -> None:
        self._fill(pkg)

    def on_package_loaded(self, *, pkg: griffe.Module, **kwargs: Any) -> None:
        self._fill(pkg)

    def _fill(self, pkg: griffe.Module) -> None:
        for class_path in self.classes:
            module_name, _, class_name = class_path.rpartition(".")
            if module_name.split(".")[0] != pkg.name:
                continue
            runtime_class = getattr(importlib.import_module(module_name), class_name)
            for name in dir(runtime_class):
                if name.startswith("_"):
                    continue
                # The class that defines the member: griffe documents it there (the sync mixins
                # in fal_client._files_api etc.) and shows it on SyncClient as inherited.
                owner = next(c for c in runtime_class.__mro__ if name in vars(c))
                raw = vars(owner)[name]
                # Methods and properties only: a plain class attribute's __doc__ is its type's.
                if owner is object or not (
                    inspect.isfunction(raw)
                    or isinstance(raw, (property, classmethod, staticmethod))
                ):
                    continue
                path = f"{owner.__module__}.{owner.__qualname__}.{name}"
                try:
                    member = pkg.modules_collection.get_member(path)
                except (KeyError, ValueError):
                    griffe.logger.warning("sync docstrings: griffe has no object %s", path)
                    continue
                if member.docstring is not None and member.docstring.value.strip():
                    continue
                doc = inspect.getdoc(getattr(runtime_class, name))
                if not doc:
                    griffe.logger.warning("sync docstrings: %s has no docstring at run time", path)
                    continue
                # Parse it as the docstrings griffe read from the source (mkdocs.yml's style).
                model = member.parent.docstring or pkg.docstring
                member.docstring = griffe.Docstring(
                    doc,
                    parent=member,
                    parser=model.parser if model else None,
                    parser_options=model.parser_options if model else None,
                )
