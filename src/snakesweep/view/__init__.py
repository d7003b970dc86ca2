"""What a person looks at: the recording, the pictures, the viewer, the report.

``recording`` (→ ``sweep.rrd``) and ``pictures`` (→ PNGs, by matplotlib; laid out by
``picture_layout``) follow the roles of a Dataset's dimensions (``dimensions``); ``viewer``
shows a recording in rerun's viewer; ``report`` is the report job, with its ``pages``, its
pictures (``report_pictures``) and rerun's headless ``screenshots``."""

__all__: list[str] = []
