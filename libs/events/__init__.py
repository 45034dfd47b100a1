"""The shared event backbone: the PostgreSQL event store with its transactional outbox, the relay to
NATS JetStream, the durable consumer runner with inbox and dead letters, and the runtime that runs
them. The pure building blocks (events, registries, aggregate types, public contracts) live in
`libs.domain`; import what you need from its module."""
