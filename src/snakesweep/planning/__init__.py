"""The plan: every point of a sweep, composed, with its run id, cached between invocations."""
