"""Generic fan-out: send many items to a vendor in frames, concurrently, exactly once across retries.

Channel-agnostic: voice campaigns and SMS plug in a :class:`Channel`. See
:mod:`airflow_provider_voice.delivery.engine` for the algorithm and
:mod:`airflow_provider_voice.delivery.checkpoint` for where progress is kept.
"""

from __future__ import annotations

from airflow_provider_voice.delivery.channel import Channel, FatalDeliveryError, default_classify
from airflow_provider_voice.delivery.checkpoint import (
    CheckpointKey,
    CheckpointState,
    CheckpointStore,
    Claim,
    LocalCheckpointStore,
    MemoryCheckpointStore,
    ObjectStorageCheckpointStore,
    checkpoint_store,
    deployment_namespace,
)
from airflow_provider_voice.delivery.engine import (
    DeliveryEngine,
    DeliveryIncompleteError,
    DeliveryRejectedError,
    DeliveryReport,
    DeliverySupersededError,
    Rejection,
)
from airflow_provider_voice.delivery.frames import Fate, Frame, FrameResult, Reconciled, Reconciliation
from airflow_provider_voice.delivery.progress import ProgressReporter
from airflow_provider_voice.delivery.suppression import SuppressionList

__all__ = [
    "Channel",
    "CheckpointKey",
    "CheckpointState",
    "CheckpointStore",
    "Claim",
    "DeliveryEngine",
    "DeliveryIncompleteError",
    "DeliveryRejectedError",
    "DeliveryReport",
    "DeliverySupersededError",
    "FatalDeliveryError",
    "Fate",
    "Frame",
    "FrameResult",
    "LocalCheckpointStore",
    "MemoryCheckpointStore",
    "ObjectStorageCheckpointStore",
    "ProgressReporter",
    "Reconciled",
    "Reconciliation",
    "Rejection",
    "SuppressionList",
    "checkpoint_store",
    "default_classify",
    "deployment_namespace",
]
