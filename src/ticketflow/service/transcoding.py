"""The event store's JSON, written and read with orjson (a JSON codec in C) where it gives the
same bytes and the same objects as eventsourcing's :class:`JSONTranscoder`.

Every stored event is encoded once (ingest, the inbound worker) and decoded on every read
(the relay, catch-up and rebuild, audit, history); eventsourcing's codec calls back into Python
for every datetime and every JSON object. Here:

- encoding: a state whose values are all plain (text, numbers, booleans, null, datetimes, and
  lists of those, such as the packs an expert's hours were drawn from) is written by orjson,
  datetimes through the same transcoding (called directly for eventsourcing's
  ``datetime_iso``), which gives byte for byte the text of :class:`JSONTranscoder` (compact,
  UTF-8); anything else (objects nested in values, UUIDs, decimals, …) goes through
  :class:`JSONTranscoder` itself;
- decoding: orjson parses, then the ``{"_type_", "_data_"}`` objects are turned back into
  values by the registered transcodings, innermost first, as the ``object_hook`` does.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import orjson
from eventsourcing.persistence import DatetimeAsISO, JSONTranscoder

_PLAIN = frozenset({str, int, float, bool, type(None), datetime})
_OPTIONS = orjson.OPT_PASSTHROUGH_DATETIME | orjson.OPT_PASSTHROUGH_DATACLASS


def _plain_list(values: list[Any]) -> bool:
    """Whether a list holds plain values and lists of them only."""
    for value in values:
        if type(value) in _PLAIN:
            continue
        if type(value) is not list or not _plain_list(value):
            return False
    return True


class FastJSONTranscoder(JSONTranscoder):
    """:class:`JSONTranscoder` with orjson on its common paths; same bytes, same objects."""

    def encode(self, obj: Any) -> bytes:
        if type(obj) is not dict:
            return super().encode(obj)
        for value in obj.values():
            if type(value) in _PLAIN:
                continue
            if type(value) is not list or not _plain_list(value):
                return super().encode(obj)
        return orjson.dumps(obj, default=self._encode_plain, option=_OPTIONS)

    def _encode_plain(self, obj: Any) -> dict[str, Any]:
        # What ``_encode_obj`` gives, without its look-ups for eventsourcing's datetimes.
        if type(obj) is datetime and type(self.types.get(datetime)) is DatetimeAsISO:
            return {"_type_": "datetime_iso", "_data_": obj.isoformat()}
        return self._encode_obj(obj)

    def decode(self, data: bytes) -> Any:
        return self._revive(orjson.loads(data))

    def _revive(self, value: Any) -> Any:
        if type(value) is dict:
            for key, item in value.items():
                if type(item) is dict or type(item) is list:
                    value[key] = self._revive(item)
            return self._decode_obj(value) if len(value) == 2 else value
        if type(value) is list:
            return [self._revive(v) if type(v) in (dict, list) else v for v in value]
        return value
