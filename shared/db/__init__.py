"""Database access: SQL dialects (`shared.db.dialect`), the read-only Protheus source
(`shared.db.sources`) and the MES's asyncpg pools (`shared.db.pools`).

Import names from the submodules; this package re-exports nothing.
"""
