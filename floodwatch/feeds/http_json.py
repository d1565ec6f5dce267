"""Poll a URL that returns JSON readings; where each field is found is set in the config.

Position: readings returned and not committed are returned again by the next fetch. With
`since` set to the name of a query parameter, each request after the first stored reading also
sends that parameter with the newest observation stored from the feed (ISO 8601 in UTC, such as
``2026-07-01T00:15:00+00:00``), for a service that answers with the readings since then: a
database outage, a source outage or a restart is then covered from the service itself. Off by
default: a service that does not know the parameter may refuse it, or ignore it.

Values and times are read by the shared parsers (`floodwatch.feeds.quality`). Skipped items,
counted in `rejected`: ``empty``, ``unparseable_value``, ``nan``, ``no_data_value``,
``unparseable_time``, ``duplicate``, ``future``, ``missing_field`` (a station, parameter or unit
that is null, blank or not text), ``malformed`` (a field's path is not in the item),
``undecodable`` (a station, parameter, unit, value or time with bytes that are not UTF-8),
``oversized`` (one of those longer than 200 characters).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import Field, model_validator

from floodwatch.feeds.base import FeedError
from floodwatch.feeds.httpfeed import PollOptions, PositionedHttpFeed, iso
from floodwatch.feeds.quality import Rejected, check_text, finish, parse_time, parse_value
from floodwatch.plugins import PluginContext
from floodwatch.readings import Reading
from floodwatch.yamlsource import Secret

FIELDS = ("station", "parameter", "value", "unit", "observed_at")


class HttpJsonFeed(PositionedHttpFeed):
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
        since: str | None = Field(
            default=None,
            min_length=1,
            description="query parameter that receives the newest stored observation's time",
        )

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
        params = dict(o.params)
        if o.since and self.stored is not None:
            params[o.since] = iso(self.stored)
        with self._run():
            body = self.get_json(o.url, params, headers)
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
                    readings.append(self._reading(item))
                except Rejected as exc:
                    self.rejected[exc.reason] += 1
            return self._deliver(finish(readings, self.rejected, now))

    def _reading(self, item: Any) -> Reading:
        o = self.options

        def get(name: str) -> Any:
            if name not in o.fields:
                return o.constants[name]
            try:
                return _at(item, o.fields[name])
            except (KeyError, IndexError, TypeError, ValueError):
                raise Rejected("malformed", f"no {name} at {o.fields[name]!r}") from None

        text: dict[str, str] = {}
        for name in ("station", "parameter", "unit"):
            raw = get(name)
            # str(None) would file a reading under station "None"
            if isinstance(raw, bool) or not isinstance(raw, str | int) or not str(raw).strip():
                raise Rejected("missing_field", f"no {name}: {raw!r}")
            text[name] = check_text(str(raw).strip(), name)
        value = parse_value(get("value"))
        observed = parse_time(get("observed_at"))
        return Reading(text["station"], text["parameter"], value, text["unit"], observed)


def _at(data: Any, path: str) -> Any:
    for part in path.split("."):
        data = data[int(part)] if isinstance(data, list) else data[part]
    return data
