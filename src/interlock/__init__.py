"""interlock: integration validation that proves itself."""

__version__ = "0.1.0"
