"""Triggering an aggregate's domain events from its commands.

Each event is declared by an ``@event`` method of its aggregate: the method names the event
class, and its body is how the event changes the aggregate (applied when the event is
triggered, and again whenever the aggregate is read back from the store). The commands decide
every value of the event, then :func:`trigger` it.
"""

from __future__ import annotations

from typing import Any

from eventsourcing.domain import Aggregate


def trigger(aggregate: Aggregate, event: str, **values: Any) -> None:
    """Trigger ``aggregate``'s event class ``event`` with ``values``, every field by name.

    The same event, applied by the same method, as a call of the ``@event`` method gives,
    without the decorator's work on each call (binding it, matching the arguments to its
    signature and filtering them): about 4 µs of the 8 an event costs that way.
    """
    aggregate.trigger_event(getattr(type(aggregate), event), **values)
