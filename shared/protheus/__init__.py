"""What every reader of the Protheus database shares: naming (`naming`), search text
(`text`), the order key (`keys`), SQL idioms (`sql`), branches and the dictionary
(`branches`) and the per-service context (`context`).

Import names from the submodules; this package re-exports nothing.
"""
