"""Apache Airflow provider for voice and SMS vendors: Velip V2, TeleVoIPs, Octopush and Kaleyra.

Importing this package is cheap: it creates no client, opens no socket and imports no Airflow
module. Airflow discovers the provider through :func:`get_provider_info`.
"""

from __future__ import annotations

from airflow_provider_voice.version import __version__

__all__ = ["__version__", "get_provider_info"]


def get_provider_info() -> dict:
    """Return the provider metadata Airflow reads through the ``apache_airflow_provider`` entry point."""
    from airflow_provider_voice.provider_info import provider_info

    return provider_info()
