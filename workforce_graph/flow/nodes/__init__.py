"""The flow topology's nodes: query analysis, planner, executor, verifier, generator."""
