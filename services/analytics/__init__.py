"""The analytics service: the BI schema's dimension sync, rollups and the Parquet lake."""
