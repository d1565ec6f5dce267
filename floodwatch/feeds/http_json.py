"""Poll a URL that returns JSON readings; where each field is found is set in the config."""

from __future__ import annotations

import math
from datetime import datetime
from typing import Any

from pydantic import Field, model_validator

from floodwatch.feeds.base import FeedError
from floodwatch.feeds.httpfeed import HttpFeed, PollOptions
from floodwatch.plugins import PluginContext
from floodwatch.readings import Reading
from floodwatch.yamlsource import Secret

FIELDS = ("station", "parameter", "value", "unit", "observed_at")


class HttpJsonFeed(HttpFeed):
    """GET `url`; the readings are the list at `items` (a dotted path; empty: the body itself).

    Each of station, parameter, value, unit and observed_at comes from a dotted path in
    `fields`, or, for station, parameter and unit, a fixed value given in `constants`. Timeout,
    retries with backoff and the degraded flag are those of every HTTP feed.
    """

    class Options(PollOptions):
        url: str = Field(pattern=r"^https?://")
        params: dict[str, str] = Field(default_factory=dict)
        token: Secret | None = None
        items: str = ""
        fields: dict[str, str] = Field(default_factory=dict)
        constants: dict[str, str] = Field(default_factory=dict)

        @model_validator(mode="after")
        def _every_field_has_a_source(self) -> HttpJsonFeed.Options:
            unknown = sorted(set(self.fields) - set(FIELDS)) + sorted(
                set(self.constants) - {"station", "parameter", "unit"}
            )
            if unknown:
                raise ValueError(f"unknown field names: {', '.join(unknown)}")
            missing = [f for f in FIELDS if f not in self.fields and f not in self.constants]
            if missing:
                raise ValueError(f"no source for: {', '.join(missing)} (set fields or constants)")
            return self

    def __init__(self, name: str, options: HttpJsonFeed.Options, context: PluginContext) -> None:
        super().__init__(name, options, context)
        self.options = options

    def fetch(self, now: datetime) -> list[Reading]:
        o = self.options
        headers = {"Authorization": f"Bearer {o.token.get_secret_value()}"} if o.token else {}
        with self._run():
            body = self.get_json(o.url, o.params, headers)
            try:
                items = _at(body, o.items) if o.items else body
            except (KeyError, IndexError, TypeError, ValueError):
                items = None
            if not isinstance(items, list):
                raise FeedError(
                    f"feed {self.name}: expected a list at {o.items or 'the top level'!r}"
                )
            readings = []
            for item in items:
                try:
                    reading = self._reading(item)
                except (KeyError, IndexError, TypeError):
                    self.rejected["malformed"] += 1
                    continue
                except ValueError as exc:
                    self.rejected[str(exc).split(":", 1)[0]] += 1
                    continue
                if reading.observed_at > now:
                    self.rejected["future"] += 1
                    continue
                readings.append(reading)
        return sorted(readings, key=lambda r: r.observed_at)

    def _reading(self, item: Any) -> Reading:
        o = self.options

        def get(name: str) -> Any:
            return _at(item, o.fields[name]) if name in o.fields else o.constants[name]

        raw = get("value")
        if raw is None or raw == "":
            raise ValueError("empty: no value")
        try:
            value = float(raw)
        except (TypeError, ValueError):
            raise ValueError(f"unparseable_value: {raw!r}") from None
        if not math.isfinite(value):
            raise ValueError(f"nan: {value}")
        try:
            observed = datetime.fromisoformat(str(get("observed_at")).replace("Z", "+00:00"))
        except ValueError:
            raise ValueError("unparseable_time: not ISO 8601") from None
        if observed.tzinfo is None:
            raise ValueError("unparseable_time: no UTC offset")
        return Reading(
            str(get("station")), str(get("parameter")), value, str(get("unit")), observed
        )


def _at(data: Any, path: str) -> Any:
    for part in path.split("."):
        data = data[int(part)] if isinstance(data, list) else data[part]
    return data
