"""Demo Protheus database: DBAccess table layout filled with a generated plant's data."""

from protheus_demo.load import has_protheus_tables, is_demo_database, load_demo
from protheus_demo.rows import insert_row

__all__ = ["has_protheus_tables", "insert_row", "is_demo_database", "load_demo"]
