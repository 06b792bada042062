"""The protocol's steps, one module each; the engine runs them in order.

A step is data (id, phase, title, the function that does it; `interlock.protocol`),
like a nox session or a Schemathesis phase: a step that is not built yet is still
listed and fails with "not implemented", so its gate fails instead of passing.
"""
