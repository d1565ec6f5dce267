"""The console's templates (Jinja2, autoescaped), one environment per language, each with the
message catalogue installed (`{{ _("...") }}` in a template is a catalogue lookup) and the
filters that show times in the office's zone."""

from __future__ import annotations

from datetime import datetime, timedelta
from functools import cached_property
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

from floodwatch import i18n
from floodwatch.config import Level

TEMPLATES = Path(__file__).resolve().parent / "templates"


class Templates:
    def __init__(self, zone: ZoneInfo) -> None:
        self.zone = zone

    @cached_property
    def _environments(self) -> dict[str, Environment]:
        return {language: self._environment(language) for language in i18n.LANGUAGES}

    def render(self, language: str, name: str, **context: Any) -> str:
        env = self._environments.get(language) or self._environments[i18n.FALLBACK]
        return env.get_template(name).render(language=language, **context)

    def _environment(self, language: str) -> Environment:
        env = Environment(
            loader=FileSystemLoader(TEMPLATES),
            autoescape=select_autoescape(default=True),
            undefined=StrictUndefined,
            extensions=["jinja2.ext.i18n"],
            trim_blocks=True,
            lstrip_blocks=True,
        )
        translations = i18n.translations(language)
        env.install_gettext_translations(translations, newstyle=True)  # type: ignore[attr-defined]
        zone = self.zone
        zh = language == "zh-CN"

        def local(when: datetime | None, fmt: str = "%m-%d %H:%M") -> str:
            return when.astimezone(zone).strftime(fmt) if when else "–"

        def level_name(level: Level | None) -> str:
            if level is None:
                return ""
            name = level.name_zh if zh else level.name_en
            return f"{name} {level.grade}" if level.grade else name

        def ago(when: datetime | None, now: datetime) -> str:
            if when is None:
                return "–"
            minutes = int((now - when) / timedelta(minutes=1))
            if minutes < 60:
                return translations.gettext("{n} min").format(n=minutes)
            return translations.gettext("{h} h {m} min").format(h=minutes // 60, m=minutes % 60)

        env.filters.update(local=local, level_name=level_name, ago=ago)
        env.globals.update(zone_name=zone.key)
        return env
