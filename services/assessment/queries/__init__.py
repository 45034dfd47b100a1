"""The assessment service's read side: queries of its read models for the API, one module per
resource, and the lookups and answers commands read inside their own unit of work."""
