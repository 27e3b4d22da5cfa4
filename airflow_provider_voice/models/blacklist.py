"""What a blacklist change did: the numbers each vendor accepted, and the ones it refused."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["BlacklistFailure", "BlacklistResult"]


class BlacklistFailure(BaseModel):
    """A number the vendor refused to (un)block, with the vendor's reason."""

    number: str
    error: str
    vendor_code: str | None = None


class BlacklistResult(BaseModel):
    """Outcome of blocking or unblocking a list of numbers on one vendor.

    :param action: ``block`` or ``unblock``.
    :param vendor: ``kaleyra`` or ``televoips``.
    :param requested: how many distinct valid numbers were asked for.
    :param changed: the numbers (E.164) the vendor accepted.
    :param failed: the numbers it refused, with the reason.
    :param requests: HTTP requests made.
    """

    model_config = ConfigDict(extra="allow")

    action: Literal["block", "unblock"]
    vendor: str
    requested: int = 0
    changed: list[str] = Field(default_factory=list)
    failed: list[BlacklistFailure] = Field(default_factory=list)
    requests: int = 0

    def summary(self) -> dict[str, Any]:
        """Counts for XCom and logs (no numbers)."""
        return {
            "action": self.action,
            "vendor": self.vendor,
            "requested": self.requested,
            "changed": len(self.changed),
            "failed": len(self.failed),
            "requests": self.requests,
        }
