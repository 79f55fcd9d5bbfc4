"""The HTTP ingest endpoint: decisions and fire-and-forget proposals for systems that are not
Python. ``create_http_app(settings)`` builds the FastAPI app; ``flywheel serve`` runs it with
uvicorn, with the API tokens of :class:`TokenStore` (:class:`ApiAuth`) and following oracle
releases. See ``docs/ingest.md``.
"""

from alignment_flywheel.connectors.http.app import create_http_app
from alignment_flywheel.connectors.http.auth import ApiAuth
from alignment_flywheel.connectors.http.errors import IngestBufferFull
from alignment_flywheel.connectors.http.ingest import ProposalIngest
from alignment_flywheel.connectors.http.openapi import openapi_spec, openapi_yaml
from alignment_flywheel.connectors.http.tokens import TokenStore

__all__ = [
    "ApiAuth",
    "IngestBufferFull",
    "ProposalIngest",
    "TokenStore",
    "create_http_app",
    "openapi_spec",
    "openapi_yaml",
]
