"""Shared libraries: the event backbone and the service plumbing."""
