"""Developer tooling: the local stack runner and embedded servers."""
