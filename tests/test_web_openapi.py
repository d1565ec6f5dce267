"""The API's OpenAPI document, fuzzed by schemathesis in-process (ASGI: no network): every
operation under /api/v1, with requests generated from the document (valid ones and ones that
break it), with a leader's valid token, answers without a server error (no 5xx), and answers
as the document says (status codes, response bodies).

On the demo flood at 15:30 EST (the alert open, 河口村 warned): the actions have something to
act on. Examples per operation are kept few so the whole module runs in seconds.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

schemathesis = pytest.importorskip("schemathesis", reason="pip install -e '.[test]' installs it")

from hypothesis import HealthCheck, given, settings  # noqa: E402 - after the importorskip
from schemathesis.checks import (  # noqa: E402
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)

from .console_support import LEADER, Desk, demo_desk  # noqa: E402

EXAMPLES = 10  # per operation


@pytest.fixture(scope="module")
def desk(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Desk]:
    yield from demo_desk(tmp_path_factory.mktemp("openapi"))


@pytest.fixture(scope="module")
def api(desk: Desk) -> schemathesis.BaseSchema:
    loaded = schemathesis.openapi.from_asgi("/openapi.json", desk.client.app)
    return loaded.include(path_regex=r"^/api/v1/")


@pytest.fixture(scope="module")
def token(desk: Desk) -> dict[str, str]:
    return desk.bearer(LEADER)


def test_the_document_is_the_api(api: schemathesis.BaseSchema) -> None:
    """The fuzzing below reads every operation of /api/v1, and only those."""
    paths = set(api.raw_schema["paths"])
    assert {"/api/v1/alerts/{alert_id}/ack", "/api/v1/broadcast", "/api/v1/log"} <= paths
    operations = [op.ok() for op in api.get_all_operations()]
    assert len(operations) >= 15
    assert all(op.path.startswith("/api/v1/") for op in operations)


def test_no_generated_request_is_a_server_error(
    api: schemathesis.BaseSchema, token: dict[str, str]
) -> None:
    """Each operation in turn (one test: the app is built once, its state carries over, as a
    running service's would); every operation that fails is named."""
    failed: dict[str, str] = {}
    answers: dict[str, set[int]] = {}
    for result in api.get_all_operations():
        operation = result.ok()

        @given(case=operation.as_strategy())
        @settings(max_examples=EXAMPLES, deadline=None, database=None,
                  suppress_health_check=list(HealthCheck))  # fmt: skip
        def fuzz(case: schemathesis.Case) -> None:
            response = case.call_and_validate(
                headers=token,
                checks=[not_a_server_error, status_code_conformance, response_schema_conformance],
            )
            answers.setdefault(case.operation.label, set()).add(response.status_code)

        try:
            fuzz()
        except Exception as exc:  # noqa: BLE001 - every operation's failure is reported
            failed[operation.label] = f"{type(exc).__name__}: {exc}"
    assert not failed, "\n\n".join(f"{label}:\n{why}" for label, why in failed.items())
    # the token was taken: never a 401, and what needs no input was answered
    assert not [label for label, codes in answers.items() if 401 in codes]
    for label in ("GET /api/v1/me", "GET /api/v1/alerts", "GET /api/v1/stations"):
        assert 200 in answers[label], answers[label]
