"""The CLI's way to the duty desk's API (`--url` on the commands that change state): the same
action as the console, done by the running service's web app as the token's person, through the
one HTTP seam. Refusals come back in the command line's language (sent as Accept-Language)."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import requests

from floodwatch.http import SessionFactory, default_session
from floodwatch.i18n import Refused, Unknown, _

TIMEOUT = 10.0  # seconds


class ApiClient:
    def __init__(
        self, url: str, token: str, language: str = "en", http: SessionFactory = default_session
    ) -> None:
        if not url.startswith(("http://", "https://")):
            raise Refused(
                _("--url: expected http://HOST:PORT or https://..., found {url}", url=repr(url))
            )
        self.url = url.rstrip("/")
        self.token = token
        self.language = language
        self.http = http

    def acknowledge(self, alert_id: int) -> dict[str, Any]:
        """The alert, acknowledged as the token's person (`via: web`)."""
        return self._call("POST", f"/api/v1/alerts/{alert_id}/ack")

    def escalate(self, alert_id: int) -> dict[str, Any]:
        """{"alert": the alert, "pages": pages queued to its next step}."""
        return self._call("POST", f"/api/v1/alerts/{alert_id}/escalate")

    def clear_village(self, village: str) -> dict[str, Any]:
        return self._call("POST", f"/api/v1/villages/{quote(village, safe='')}/clear")

    def broadcast(self, villages: list[str], text: str) -> dict[str, Any]:
        return self._call("POST", "/api/v1/broadcast", {"villages": villages, "text": text})

    def write_log(self, text: str, kind: str, corrects: int | None) -> dict[str, Any]:
        return self._call("POST", "/api/v1/log", {"text": text, "kind": kind, "corrects": corrects})

    def hand_over(self, note: str) -> dict[str, Any]:
        return self._call("POST", "/api/v1/handover", {"note": note})

    def accept_handover(self) -> dict[str, Any]:
        return self._call("POST", "/api/v1/handover/accept")

    def office_zone(self) -> ZoneInfo:
        """The office's time zone, as the service knows it (times are shown in it)."""
        name = self._call("GET", "/api/v1/me").get("timezone")
        try:
            return ZoneInfo(str(name))
        except (ZoneInfoNotFoundError, ValueError):
            return ZoneInfo("UTC")

    def _call(self, method: str, path: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
        session = self.http()
        headers = {"Authorization": f"Bearer {self.token}", "Accept-Language": self.language}
        try:
            answer = session.request(
                method, self.url + path, headers=headers, json=body, timeout=TIMEOUT
            )
        except requests.RequestException as exc:
            raise Refused(
                _("cannot reach {url}: {reason}", url=self.url, reason=type(exc).__name__)
            ) from None
        finally:
            session.close()
        try:
            found = answer.json()
        except ValueError:
            found = None
        if answer.status_code == 200 and isinstance(found, dict):
            return found
        detail = found.get("detail") if isinstance(found, dict) else None
        if not isinstance(detail, str):  # a 422's detail is a list of pydantic's errors
            detail = answer.reason
        if answer.status_code == 404:
            raise Unknown(_("{url}: {detail}", url=self.url, detail=detail))
        raise Refused(
            _("{url}: {detail} (HTTP {status})", url=self.url, detail=detail,
              status=answer.status_code)
        )  # fmt: skip
