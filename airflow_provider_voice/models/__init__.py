"""Pydantic v2 models shared by all vendors."""

from __future__ import annotations

from airflow_provider_voice.models.phone import InvalidPhoneNumber, PhoneNumber
from airflow_provider_voice.models.recipients import InvalidRow, Recipient, RecipientReport, RecipientSource

__all__ = ["InvalidPhoneNumber", "InvalidRow", "PhoneNumber", "Recipient", "RecipientReport", "RecipientSource"]
