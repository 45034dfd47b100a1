"""Read-side queries of the advisory service (SQL adapters: no SQL in handlers or routes)."""
