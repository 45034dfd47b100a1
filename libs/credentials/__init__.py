"""Verifiable credentials of the programme's reports (issue 20): the issuer's keys and did:web DID,
JOSE signing (`vc+jwt`), the Bitstring Status List, the UNTP Digital Conformity Credential of a
report and the offline verification bundle (docs/credentials.md)."""
