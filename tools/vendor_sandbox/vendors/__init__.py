"""The vendors the sandbox plays, one module each, as in the relay's erasure/vendors/.

Every Vendor subclass defined in a module of this package is served: a new vendor is one new
module here. VENDOR_CLASSES holds them sorted by name.
"""

from __future__ import annotations

import importlib
import pkgutil

from tools.vendor_sandbox.core import Vendor


def _discover() -> tuple[type[Vendor], ...]:
    found: list[type[Vendor]] = []
    for module_info in pkgutil.iter_modules(__path__):
        module = importlib.import_module(f"{__name__}.{module_info.name}")
        found.extend(
            value
            for value in vars(module).values()
            if isinstance(value, type) and issubclass(value, Vendor) and value.__module__ == module.__name__
        )
    return tuple(sorted(found, key=lambda cls: cls.name))


VENDOR_CLASSES = _discover()
SECRET_HEADERS = frozenset().union(*(cls.secret_headers for cls in VENDOR_CLASSES))


def default_credentials(vendor: str, fields: tuple[str, ...]) -> dict[str, str]:
    """The credentials a new sandbox expects from `vendor`, under a secret's field names."""
    defaults = next(cls.DEFAULTS for cls in VENDOR_CLASSES if cls.name == vendor)
    return {field: defaults[field] for field in fields}
