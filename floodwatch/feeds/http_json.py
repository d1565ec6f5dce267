"""Poll a URL that returns JSON readings; where each field is found is set in the config."""

from __future__ import annotations

import logging
import math
from datetime import datetime
from typing import Any

import requests
from pydantic import BaseModel, ConfigDict, Field, model_validator

from floodwatch.feeds.base import FeedError
from floodwatch.plugins import PluginContext
from floodwatch.readings import Reading
from floodwatch.yamlsource import Secret

log = logging.getLogger(__name__)

FIELDS = ("station", "parameter", "value", "unit", "observed_at")


class HttpJsonFeed:
    """GET `url`; the readings are the list at `items` (a dotted path; empty: the body itself).

    Each of station, parameter, value, unit and observed_at comes from a dotted path in
    `fields`, or, for station, parameter and unit, a fixed value given in `constants`.
    """

    class Options(BaseModel):
        model_config = ConfigDict(extra="forbid", frozen=True)
        url: str = Field(pattern=r"^https?://")
        params: dict[str, str] = Field(default_factory=dict)
        token: Secret | None = None
        timeout: float = Field(default=10.0, gt=0)
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
        self.name = name
        self.options = options
        self._session = context.http()

    def fetch(self, now: datetime) -> list[Reading]:
        o = self.options
        headers = {"Authorization": f"Bearer {o.token.get_secret_value()}"} if o.token else {}
        try:
            response = self._session.get(o.url, params=o.params, headers=headers, timeout=o.timeout)
            response.raise_for_status()
            body = response.json()
        except requests.RequestException as exc:
            raise FeedError(f"feed {self.name}: GET {o.url} failed: {exc}") from exc
        except ValueError as exc:
            raise FeedError(f"feed {self.name}: {o.url} did not return JSON: {exc}") from exc
        items = _at(body, o.items) if o.items else body
        if not isinstance(items, list):
            raise FeedError(f"feed {self.name}: expected a list at {o.items or 'the top level'!r}")
        readings = []
        for i, item in enumerate(items):
            try:
                readings.append(self._reading(item))
            except (KeyError, TypeError, ValueError) as exc:
                log.warning("feed %s: item %d skipped: %s", self.name, i, exc)
        return [r for r in readings if r.observed_at <= now]

    def _reading(self, item: Any) -> Reading:
        o = self.options

        def get(name: str) -> Any:
            return _at(item, o.fields[name]) if name in o.fields else o.constants[name]

        value = float(get("value"))
        if not math.isfinite(value):
            raise ValueError(f"value {value} is not finite")
        observed = datetime.fromisoformat(str(get("observed_at")).replace("Z", "+00:00"))
        if observed.tzinfo is None:
            raise ValueError(f"observed_at {observed.isoformat()} has no UTC offset")
        return Reading(
            str(get("station")), str(get("parameter")), value, str(get("unit")), observed
        )


def _at(data: Any, path: str) -> Any:
    for part in path.split("."):
        data = data[int(part)] if isinstance(data, list) else data[part]
    return data
