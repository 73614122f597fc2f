"""Schema-based fuzzing of the workstation API (schemathesis, in-process ASGI): never a 5xx.

Bounded: a few examples per operation, no deadline. The store holds one uploaded DICOM so that
id 1 exists and the requests reach past "not found". Sending an SR to a generated host is left
out (it would try the network); everything else, uploads included, is fuzzed.
"""

from __future__ import annotations

from typing import Any

import pytest

schemathesis = pytest.importorskip(
    "schemathesis", reason="schemathesis not installed (pip install schemathesis)"
)

from hypothesis import HealthCheck, settings  # noqa: E402

from sonomsk.server.app import create_app  # noqa: E402
from sonomsk.store.db import open_store  # noqa: E402

from ..store.conftest import make_dicom  # noqa: E402

pytestmark = pytest.mark.slow

EXAMPLES_PER_OPERATION = 30


@pytest.fixture(scope="module")
def api_schema(tmp_path_factory: pytest.TempPathFactory) -> Any:
    from fastapi.testclient import TestClient

    root = tmp_path_factory.mktemp("fuzz")
    store = open_store(home=root / "home")
    app = create_app(store, max_upload_bytes=2_000_000)
    f = make_dicom(root / "seed.dcm")
    assert (
        TestClient(app).post("/api/upload", files={"file": ("seed.dcm", f.read_bytes())}).status_code == 201
    )
    yield schemathesis.openapi.from_asgi("/openapi.json", app).exclude(path_regex=r"/send$")
    store.close()


schema = schemathesis.pytest.from_fixture("api_schema")


@schema.parametrize()
@settings(
    max_examples=EXAMPLES_PER_OPERATION,
    deadline=None,
    derandomize=True,
    suppress_health_check=list(HealthCheck),
)
def test_api_never_answers_5xx(case: Any) -> None:
    response = case.call()
    assert response.status_code < 500, (case.method, case.path, response.status_code, response.text[:300])
    if response.status_code >= 400 and "json" in response.headers.get("content-type", ""):
        assert "Traceback" not in response.text
