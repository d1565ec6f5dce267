"""Plugin registry, built from entry points by the application factory (never at import)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import cache
from importlib.metadata import entry_points
from pathlib import Path
from types import MappingProxyType
from typing import Any, ClassVar, Protocol

from pydantic import BaseModel

from floodwatch.clock import Clock
from floodwatch.feeds.base import Feed
from floodwatch.http import SessionFactory, default_session
from floodwatch.notify.base import Notifier

FEEDS_GROUP = "floodwatch.feeds"
NOTIFIERS_GROUP = "floodwatch.notifiers"


@dataclass(frozen=True)
class PluginContext:
    """What a plugin may use from the application."""

    base_dir: Path
    clock: Clock
    http: SessionFactory = default_session
    # the web app's address as the outside world sees it (channels whose provider calls back:
    # Twilio's status callbacks and voice keypresses); None when no web app is configured
    public_url: str | None = None
    # makes the twilio.http.HttpClient the Twilio channels send through (tests: a recording
    # fake); None: the SDK's own. Given to build_app by its caller, never by a config file.
    twilio_http: Callable[[], Any] | None = None


class FeedPlugin(Protocol):
    """A `floodwatch.feeds` entry point: a class with an `Options` model."""

    Options: ClassVar[type[BaseModel]]

    def __call__(self, name: str, options: Any, context: PluginContext) -> Feed: ...


class NotifierPlugin(Protocol):
    """A `floodwatch.notifiers` entry point: a class with an `Options` model."""

    Options: ClassVar[type[BaseModel]]

    def __call__(self, name: str, options: Any, context: PluginContext) -> Notifier: ...


@dataclass(frozen=True)
class Registry:
    feeds: Mapping[str, FeedPlugin] = field(default_factory=dict)
    notifiers: Mapping[str, NotifierPlugin] = field(default_factory=dict)
    origins: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def from_entry_points(cls) -> Registry:
        """Built-ins and third-party plugins alike, as installed when this process first asked:
        reading every installed package's metadata takes a tenth of a second, and what is
        installed does not change under a running process (a plugin installed later is there
        at the next start). The registry is read-only, so one is shared."""
        return _installed()


@cache
def _installed() -> Registry:
    feeds: dict[str, FeedPlugin] = {}
    notifiers: dict[str, NotifierPlugin] = {}
    origins: dict[str, str] = {}
    for group, target in ((FEEDS_GROUP, feeds), (NOTIFIERS_GROUP, notifiers)):
        for ep in entry_points(group=group):
            target[ep.name] = ep.load()
            origins[f"{group}:{ep.name}"] = f"{ep.value} ({ep.dist.name if ep.dist else '?'})"
    return Registry(
        feeds=MappingProxyType(feeds), notifiers=MappingProxyType(notifiers),
        origins=MappingProxyType(origins),
    )  # fmt: skip
