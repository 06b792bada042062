"""The demo shop: three small services (catalog, orders, shipping) that
interlock validates end to end.

Each service is its own OS process (``python -m shop.catalog`` and so on); they
share one database (``SHOP_DB_URL``) and one message bus (``SHOP_BUS_URL``) so
the integration suite has real network calls, real SQL and real messages to
observe.
"""

from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
"""examples/shop/: where migrations/, data/ and the default .run/ folder live."""
