"""The vendor connectors, by name."""

from erasure.vendors.base import Connector
from erasure.vendors.braze import Braze
from erasure.vendors.clevertap import CleverTap
from erasure.vendors.dfinery import Dfinery
from erasure.vendors.insider import Insider

CONNECTORS: dict[str, Connector] = {c.name: c for c in (Braze(), CleverTap(), Insider(), Dfinery())}
