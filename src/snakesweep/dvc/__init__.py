"""DVC: runs pulled one at a time, and a sweep across git revisions."""

__all__: list[str] = []
