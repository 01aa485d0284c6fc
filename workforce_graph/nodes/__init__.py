"""The graph's nodes, one module each: planner, coordinator, workers, verifier, generator."""
