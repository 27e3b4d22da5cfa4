"""What capability implementations start from: the vendor access they are built with, and the shared
checks of click-to-call."""

from __future__ import annotations

from typing import Any, ClassVar, Generic, TypeVar

from airflow_provider_voice.errors import ValidationError
from airflow_provider_voice.models.click_to_call import ClickToCallHandle
from airflow_provider_voice.vendors.access import VendorAccess
from airflow_provider_voice.vendors.base import AsyncVendorClient, VendorApi

__all__ = ["ClickToCallBackend", "VendorCapability"]

ApiT = TypeVar("ApiT", bound=VendorApi)


class VendorCapability(Generic[ApiT]):
    """A vendor's implementation of a capability, built from its access (never from the hook).

    :param access: the vendor API and its clients (``hook.access``).
    """

    vendor: ClassVar[str]

    def __init__(self, access: VendorAccess[ApiT]) -> None:
        self.access = access
        self.api: ApiT = access.api

    def async_client(self) -> AsyncVendorClient[ApiT]:
        """A new asyncio client on the vendor's API (close it with ``aclose``)."""
        return self.access.async_client()


class ClickToCallBackend(VendorCapability[ApiT]):
    """The shared part of click-to-call: options checked against the vendor's list, the default region.

    Subclasses set :attr:`option_names` and implement :meth:`place`, ``status_call`` and ``interpret``
    (:class:`~airflow_provider_voice.capabilities.protocols.ClickToCallCapability`).
    """

    #: the vendor's name in messages
    label: ClassVar[str]
    #: ``vendor_options`` the vendor accepts
    option_names: ClassVar[tuple[str, ...]]
    default_region: ClassVar[str | None] = None

    def connect(
        self,
        agent: Any,
        customer: Any,
        *,
        message: str | None = None,
        default_region: str | None = None,
        **options: Any,
    ) -> ClickToCallHandle:
        """Place the call (everything is checked before the request); returns its handle.

        :param agent: who is called first (the agent).
        :param customer: who is joined next (the customer).
        :param message: what the agent hears first, where the vendor plays one.
        :param default_region: region of numbers written without a country code.
        :param options: vendor options (:attr:`option_names`).
        """
        unknown = sorted(set(options) - set(self.option_names))
        if unknown:
            raise ValidationError(
                "vendor_options", unknown, f"{self.label} click-to-call options are {', '.join(self.option_names)}"
            )
        return self.place(
            agent, customer, message=message, region=default_region or self.default_region, options=options
        )

    def place(
        self, agent: Any, customer: Any, *, message: str | None, region: str | None, options: dict[str, Any]
    ) -> ClickToCallHandle:  # pragma: no cover - abstract
        """Send the vendor's click-to-call request (options already checked)."""
        raise NotImplementedError
