"""The history bundle's tools (format `betterwork-history/1`, `libs/domain/history`): the generator
of a fictional programme's past (`generate`), the bundle's JSON Schemas (`schemas`) and the
programme's results table computed from a bundle's files alone (`expected`, the independent oracle
of the results endpoint). `python -m tools.history --help`."""
