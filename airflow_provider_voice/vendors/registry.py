"""The vendors of the provider: one line each. Adding a vendor is its folder plus a line here.

Each vendor folder offers ``connection.VENDOR`` (its connection form, how a connection becomes its
API, its connection test). The hooks, the provider info and the capability errors read this list.
"""

from __future__ import annotations

from typing import Any

from airflow_provider_voice.connections import ConnectionType
from airflow_provider_voice.vendors.access import Vendor
from airflow_provider_voice.vendors.kaleyra.connection import VENDOR as KALEYRA
from airflow_provider_voice.vendors.octopush.connection import VENDOR as OCTOPUSH
from airflow_provider_voice.vendors.televoips.connection import VENDOR as TELEVOIPS
from airflow_provider_voice.vendors.velip.connection import VENDOR as VELIP

__all__ = ["CONNECTION_TYPES", "VENDORS"]

#: every vendor, in the order the provider info lists them
VENDORS: tuple[Vendor[Any], ...] = (VELIP, TELEVOIPS, OCTOPUSH, KALEYRA)

#: connection type -> its form and hook class path
CONNECTION_TYPES: dict[str, ConnectionType] = {v.name: v.connection for v in VENDORS}
