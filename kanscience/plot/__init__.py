"""Figures of networks, returned and never written unless a path is given."""

from ._diagram import (
    edge_color,
    plot,
)

__all__ = [
    "edge_color",
    "plot",
]
