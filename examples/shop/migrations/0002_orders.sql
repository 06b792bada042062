-- Orders. No foreign key to products: each service owns its data, and the
-- seed replaces products while orders keep their product_id.
CREATE TABLE orders (
    id TEXT PRIMARY KEY,
    product_id INTEGER NOT NULL,
    quantity INTEGER NOT NULL CHECK (quantity >= 1),
    total_cents BIGINT NOT NULL,
    currency TEXT NOT NULL,
    status TEXT NOT NULL,
    created_at TEXT NOT NULL
);
