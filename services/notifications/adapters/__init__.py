"""The notifications service's adapters beside the event store: the webhook transport, secrets at
rest, and the SQL of the delivery tables, the fan-out and the dispatcher."""
