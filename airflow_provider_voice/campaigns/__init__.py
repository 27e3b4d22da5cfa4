"""Voice campaigns on Velip, Octopush and Kaleyra behind one protocol.

``hook.capability("campaign")`` returns the connection vendor's backend
(:class:`~airflow_provider_voice.campaigns.velip.VelipCampaigns`,
:class:`~airflow_provider_voice.campaigns.octopush.OctopushCampaigns`,
:class:`~airflow_provider_voice.campaigns.kaleyra.KaleyraCampaigns`), each a
:class:`~airflow_provider_voice.campaigns.base.CampaignBackend`.
"""

from __future__ import annotations

from airflow_provider_voice.campaigns.base import (
    CampaignBackend,
    CampaignChannel,
    CampaignIncompleteError,
    CampaignRejectedError,
    CampaignSupersededError,
)
from airflow_provider_voice.campaigns.recipients import ValidatedRecipients, validate_recipients

__all__ = [
    "CampaignBackend",
    "CampaignChannel",
    "CampaignIncompleteError",
    "CampaignRejectedError",
    "CampaignSupersededError",
    "ValidatedRecipients",
    "validate_recipients",
]
