"""The event store's JSON, written and read with orjson (a JSON codec in C) where it gives the
same bytes and the same objects as eventsourcing's :class:`JSONTranscoder`.

Every stored event is encoded once (ingest, the inbound worker) and decoded on every read
(the relay, catch-up and rebuild, audit, history); eventsourcing's codec calls back into Python
for every datetime and every JSON object. Here:

- encoding: a state whose values are all plain (text, numbers, booleans, null, datetimes, and
  lists of plain values other than datetimes, such as the packs an expert's hours were drawn
  from) is written by orjson, which gives byte for byte the text of :class:`JSONTranscoder`
  (compact, UTF-8). Each datetime becomes eventsourcing's ``datetime_iso`` object, its text
  written by orjson itself when the datetime is in UTC (RFC 3339, the same text as
  ``isoformat``; a tenth of the cost of calling back into Python for it), else by the
  transcoding. Anything else (objects nested in values, UUIDs, decimals, datetimes in lists,
  …) goes through :class:`JSONTranscoder` itself;
- decoding: orjson parses, then the ``{"_type_", "_data_"}`` objects are turned back into
  values by the registered transcodings, innermost first, as the ``object_hook`` does.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import orjson
from eventsourcing.persistence import DatetimeAsISO, JSONTranscoder

_PLAIN = frozenset({str, int, float, bool, type(None)})
_OPTIONS = orjson.OPT_PASSTHROUGH_DATACLASS
_ISO = "datetime_iso"


def _plain_list(values: list[Any]) -> bool:
    """Whether a list holds plain values other than datetimes, and lists of them, only."""
    for value in values:
        if type(value) in _PLAIN:
            continue
        if type(value) is not list or not _plain_list(value):
            return False
    return True


class FastJSONTranscoder(JSONTranscoder):
    """:class:`JSONTranscoder` with orjson on its common paths; same bytes, same objects."""

    def encode(self, obj: Any) -> bytes:
        if type(obj) is not dict or type(self.types.get(datetime)) is not DatetimeAsISO:
            return super().encode(obj)
        state = None
        for key, value in obj.items():
            kind = type(value)
            if kind is datetime:
                if state is None:
                    state = dict(obj)
                # orjson writes a datetime in UTC as ``isoformat`` does; others, the transcoding.
                text = value if value.tzinfo is UTC else value.isoformat()
                state[key] = {"_type_": _ISO, "_data_": text}
            elif kind not in _PLAIN and (kind is not list or not _plain_list(value)):
                return super().encode(obj)
        return orjson.dumps(obj if state is None else state, option=_OPTIONS)

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
