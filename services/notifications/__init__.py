"""Notifications: buyers' webhook endpoints, signed and retried deliveries of the public events of
the factories that share with them, and the delivery log (port 8004)."""
