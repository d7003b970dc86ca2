"""Where every value comes from: git, the code a run ran, the environment."""

__all__: list[str] = []
