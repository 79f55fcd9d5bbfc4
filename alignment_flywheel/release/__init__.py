"""Oracle releases: the state of a rollout, the chain followers rebuild, and its verification."""
