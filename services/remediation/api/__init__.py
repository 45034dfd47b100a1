"""REST routers of the remediation service, a module per resource: `plans` (/v1/improvement-plans:
items, status changes, verification, publication, record) and `committees` (/v1/committees)."""
