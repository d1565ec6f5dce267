"""CAP 1.2 on the web: the Atom index of every alert's and village warning's messages, and one
XML document per message, as other systems (the county, broadcasters, a CAP aggregator) read
them. CAP is written to be passed on, so these are served without signing in; alerts about the
duty office itself (silent gauges, coverage) have no CAP (`floodwatch.cap`)."""

from __future__ import annotations

from fastapi import APIRouter, HTTPException, Request, Response

from floodwatch.cap import MEDIA_TYPE, CapFeed

ATOM_TYPE = "application/atom+xml"
INDEX_SIZE = 100  # the newest messages in the index


def cap_router(feed: CapFeed, public_url: str | None) -> APIRouter:
    router = APIRouter(prefix="/cap", include_in_schema=False)

    def base(request: Request) -> str:
        return (public_url or str(request.base_url)).rstrip("/")

    @router.get("/index.atom")
    def index(request: Request) -> Response:
        if feed.cap is None:
            raise HTTPException(404, "no CAP: the config has no `cap:` section")
        root = base(request)
        body = feed.atom(
            feed.messages(limit=INDEX_SIZE),
            f"{root}/cap/index.atom",
            lambda m: f"{root}/cap/{m.identifier}.xml",
        )
        return Response(body, media_type=ATOM_TYPE)

    @router.get("/{identifier}.xml")
    def message(identifier: str) -> Response:
        found = feed.message(identifier) if feed.cap is not None else None
        if found is None:
            raise HTTPException(404, f"no CAP message {identifier[:80]!r}")
        return Response(found.xml, media_type=MEDIA_TYPE)

    return router
