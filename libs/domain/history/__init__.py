"""The history bundle: how a country programme brings its past (format `betterwork-history/1`).

A bundle is a directory with `manifest.json` and one JSON Lines file per kind of record. Each
record has a `source_id`, unique in its kind across the programme's bundles (prefix it with the
programme, e.g. `KH-F-00012`); records refer to each other by source id. The owning service
imports its own kinds (POST /v1/imports/<kind>), and turns each source id into the same internal
identifier (`imported_id`), so that every service knows an imported factory without asking.

Modules: `bundle` (manifest, kinds, identifiers, digests) and one module per owning service with
its record models; `docs/history-bundle/` holds the JSON Schemas generated from them.
"""
