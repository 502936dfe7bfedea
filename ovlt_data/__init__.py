"""ovlt_data — the versioned data factory (sources, stages, cache, builds, exports, hub).

    from ovlt_data.build import build                # build(card, out=...) -> version folder
    from ovlt_data.export import export_dataset      # export_dataset(version_dir, fmt, out_dir)

A card (cards/rounds/*.yaml) names sources and stages; `build` streams rows through the stages a
batch at a time, every model call through the SQLite cache, and writes
`<out>/<name>/<version>/` (parquet per config, manifest.json, README.md dataset card).
"""

__version__ = "0.1.0"
