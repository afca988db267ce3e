"""ticketflow: an event-sourced engine for support tickets and support subscriptions."""

from __future__ import annotations

__version__ = "0.1.0"
__all__ = ["__version__"]
