"""ovlt_data — the versioned data factory (sources, stages, cache, builds, exports, hub)."""

__version__ = "0.1.0"
