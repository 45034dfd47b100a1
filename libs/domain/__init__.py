"""The pure building blocks every service's domain is made of: events and their registry
(`envelope`), aggregate types and decisions (`aggregate`), public contracts (`contract`), derived
identifiers (`identifiers`), the safe request types (`types`) and the domain error base
(`errors`). Nothing here imports FastAPI, Starlette, an HTTP client or a database or NATS driver."""
