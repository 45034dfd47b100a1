"""The advisory service's routers, one per resource."""
