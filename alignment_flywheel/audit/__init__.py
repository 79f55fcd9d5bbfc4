"""The tamper-evident audit ledger: RFC 6962 Merkle logs over the audited topics."""
