"""Contract kinds: how each kind of contract (Pact, OpenAPI, AsyncAPI, database schema) is read, run and recorded."""
