"""The event store's JSON, written and read with orjson (a JSON codec in C) where it gives the
same bytes and the same objects as eventsourcing's :class:`JSONTranscoder`.

Every stored event is encoded once (ingest, the inbound worker) and decoded on every read
(the relay, catch-up and rebuild, audit, history); eventsourcing's codec calls back into Python
for every datetime and every JSON object. Here:

- encoding: a state whose values are all plain (text, numbers, booleans, null, datetimes) is
  written by orjson, datetimes through the same transcodings, which gives byte for byte the
  text of :class:`JSONTranscoder` (compact, UTF-8); anything else (nested values, UUIDs,
  decimals, …) goes through :class:`JSONTranscoder` itself;
- decoding: orjson parses, then the ``{"_type_", "_data_"}`` objects are turned back into
  values by the registered transcodings, innermost first, as the ``object_hook`` does.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import orjson
from eventsourcing.persistence import JSONTranscoder

_PLAIN = frozenset({str, int, float, bool, type(None), datetime})
_OPTIONS = orjson.OPT_PASSTHROUGH_DATETIME | orjson.OPT_PASSTHROUGH_DATACLASS


class FastJSONTranscoder(JSONTranscoder):
    """:class:`JSONTranscoder` with orjson on its common paths; same bytes, same objects."""

    def encode(self, obj: Any) -> bytes:
        if type(obj) is dict and all(type(v) in _PLAIN for v in obj.values()):
            return orjson.dumps(obj, default=self._encode_obj, option=_OPTIONS)
        return super().encode(obj)

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
