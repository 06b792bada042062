"""Step 3.3: regression spot-checks (the work lives in `interlock.regression`)."""

from __future__ import annotations

from interlock.regression import run

__all__ = ["run"]
