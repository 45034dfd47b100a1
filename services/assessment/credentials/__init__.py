"""How the assessment service issues its reports' verifiable credentials (docs/credentials.md):
the issuer's keys (`keys`), the status lists (`status`) and the issuance of a report's credential
in the unit of work that completed or corrected it (`issuing`)."""
