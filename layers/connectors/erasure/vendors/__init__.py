"""The vendor connectors, by name: every module of this package that defines a Connector.

A new vendor is one new module here; nothing lists the vendors by hand.
"""

from __future__ import annotations

import importlib
import inspect
import pkgutil

from erasure.vendors.base import Connector


def _discovered() -> dict[str, Connector]:
    found = {}
    for module in pkgutil.iter_modules(__path__):
        loaded = importlib.import_module(f"{__name__}.{module.name}")
        for _, cls in inspect.getmembers(loaded, inspect.isclass):
            if issubclass(cls, Connector) and cls is not Connector:
                found[cls.name] = cls()
    return dict(sorted(found.items()))


CONNECTORS: dict[str, Connector] = _discovered()
