"""What a sweep is: its domain, its points, their composed configs and run ids."""

__all__: list[str] = []
