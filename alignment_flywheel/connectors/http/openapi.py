"""The OpenAPI spec of the ingest endpoint, as committed in ``docs/openapi.yaml``.

Rules: the spec is generated from the app (``app.openapi()``), never written by hand;
:func:`openapi_yaml` renders it deterministically (keys in FastAPI's order, no line wrapping), and
``flywheel serve --openapi > docs/openapi.yaml`` regenerates the committed file. A unit test fails
when the committed file drifts from the app.
"""

from __future__ import annotations

from typing import Any

import yaml

from alignment_flywheel.config import Settings
from alignment_flywheel.connectors.http.app import create_http_app
from alignment_flywheel.enforcement.verdict import Verdict
from alignment_flywheel.events import Proposal
from alignment_flywheel.oracle import Oracle


class _SpecOnlyEnforcer:
    """Stands in for the enforcer when the app is built only to read its spec."""

    @property
    def oracle(self) -> Oracle:
        raise NotImplementedError("the spec-only app has no oracle")

    def swap_oracle(self, oracle: Oracle) -> None:
        raise NotImplementedError("the spec-only app has no oracle")

    def decide(self, proposal: Proposal, *, revision_depth: int = 0) -> Verdict:
        raise NotImplementedError("the spec-only app decides nothing")


def openapi_spec(settings: Settings) -> dict[str, Any]:
    """The spec of the app, built without an enforcer or a Kafka client."""
    app = create_http_app(settings, enforcer=_SpecOnlyEnforcer(), publish=False)
    return app.openapi()


def openapi_yaml(spec: dict[str, Any]) -> str:
    """The spec as YAML text."""
    text: str = yaml.safe_dump(spec, sort_keys=False, allow_unicode=True, width=1_000_000)
    return text
