"""The Python face: results loaded as one Dataset, and plans whose rounds read them."""

__all__: list[str] = []
