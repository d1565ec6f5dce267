"""The CLI's way to the duty desk's API (`floodwatch ack --url`): the same action as the console,
done by the running service's web app as the token's person, through the one HTTP seam."""

from __future__ import annotations

from typing import Any

import requests

from floodwatch.errors import FloodwatchError, NotFound
from floodwatch.http import SessionFactory, default_session

TIMEOUT = 10.0  # seconds


class ApiClient:
    def __init__(self, url: str, token: str, http: SessionFactory = default_session) -> None:
        if not url.startswith(("http://", "https://")):
            raise FloodwatchError(f"--url: expected http://HOST:PORT or https://..., found {url!r}")
        self.url = url.rstrip("/")
        self.token = token
        self.http = http

    def acknowledge(self, alert_id: int) -> dict[str, Any]:
        """The alert, acknowledged as the token's person (`via: web`)."""
        return self._post(f"/api/v1/alerts/{alert_id}/ack")

    def escalate(self, alert_id: int) -> dict[str, Any]:
        return self._post(f"/api/v1/alerts/{alert_id}/escalate")

    def _post(self, path: str) -> dict[str, Any]:
        session = self.http()
        try:
            answer = session.post(
                self.url + path, headers={"Authorization": f"Bearer {self.token}"},
                timeout=TIMEOUT,
            )  # fmt: skip
        except requests.RequestException as exc:
            raise FloodwatchError(f"cannot reach {self.url}: {type(exc).__name__}") from None
        finally:
            session.close()
        try:
            body = answer.json()
        except ValueError:
            body = None
        if answer.status_code == 200 and isinstance(body, dict):
            return body
        detail = body.get("detail") if isinstance(body, dict) else None
        message = f"{self.url}: {detail if isinstance(detail, str) else answer.reason}"
        if answer.status_code == 404:
            raise NotFound(message)
        raise FloodwatchError(f"{message} (HTTP {answer.status_code})")
