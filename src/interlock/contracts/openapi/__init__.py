"""OpenAPI contracts: every documented operation exercised against the running service, validated by openapi-core.

One record per service document (consumer `openapi:<doc path>`, provider the
service), one item per operation whose id is the scope matrix's interface id
(`catalog:GET /products/{id}`). Requests come from the document's examples or
from the config's fixtures for that interface id (a fixture's `setup` runs
first); the request that was really sent and the response that really came
back are both validated with openapi-core, every violation a mismatch at its
JSON path. An operation nothing can exercise is `not_executed`, a service that
does not answer makes its operations `error`: neither ever passes. Services are
checked concurrently, each service's operations one after another (setups and
the requests they prepare for must not interleave).
"""

from interlock.contracts.openapi.document import Document, base_path, load
from interlock.contracts.openapi.kind import KIND, OpenApiKind, selected, settings, verify
from interlock.contracts.openapi.run import UNEXERCISED, check_operation, item, unexercised, verify_document

__all__ = [
    "KIND", "UNEXERCISED", "Document", "OpenApiKind", "base_path", "check_operation", "item", "load", "selected", "settings", "unexercised",
    "verify", "verify_document",
]
