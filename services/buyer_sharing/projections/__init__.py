"""Read-model updates of buyer sharing: from its own events in the command's transaction (`own`),
and from the upstream public events, set-based, in the consumers and the rebuild (`upstream`, with
its SQL in `statements`)."""
