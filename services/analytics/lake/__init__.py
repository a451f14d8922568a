"""The Parquet lake: the analytics datasets exported by plant day under LAKE_DIR."""
