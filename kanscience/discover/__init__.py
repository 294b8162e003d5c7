"""Discovery: from data to ranked closed-form formulas."""

from ._discover import (
    DISCOVERY_LIBRARY,
    Candidate,
    DiscoveryResult,
    discover,
)

__all__ = [
    "Candidate",
    "DISCOVERY_LIBRARY",
    "DiscoveryResult",
    "discover",
]
