"""The deployable services, one package each."""
