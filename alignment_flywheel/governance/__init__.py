"""The governance pipeline's domain: norms, features, red team, triage and refinement."""
