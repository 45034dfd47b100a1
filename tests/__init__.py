"""Cross-service and end-to-end tests."""
