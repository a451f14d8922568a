"""SQL of the catalog: one statement per request, written once and rendered per dialect.

Every statement filters live rows (`shared.protheus.sql.live`) on every table and join, and the FILIAL
column of every table with the value the branch resolver gives for that table (xFilial:
the prefix of the branch its SX2 share modes keep, blanks when fully shared). A join that
takes a table's filial from another table's row uses that row's branch cut to the
table's own kept length (`:sb1_kept`...), never the other table's filial as it is.
Table names come from the company code; every value is bound.
Statements that page return one header row even when the page is empty: `found`
(the product exists) and `total` ride along with the rows, so one round trip answers.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Literal

from shared.db.dialect import Dialect
from shared.protheus.naming import Tables
from shared.protheus.sql import live, operpad_sql, routing_sql


def _paged(dialect: Dialect, header: str, rows: str, order_by: str) -> str:
    """Header columns, then the requested page of `rows` (a CTE name) beside them."""
    page = f"SELECT * FROM {rows} ORDER BY {order_by} {dialect.page}"
    return f"SELECT h.*, p.* FROM ({header}) h {dialect.outer_lateral(page, 'p')}"


def _paged_once(
    dialect: Dialect, header: str, rows: str, order_by: str, total: str = "COUNT(*)"
) -> str:
    """Header columns beside the requested page of `rows` (a CTE name), reading `rows` once.

    SQL Server does not materialise CTEs: each reference runs the CTE (a BOM explosion)
    again. So `rows` is numbered in one pass, `total` (an aggregate over every row) rides
    on each row, and row 1 always comes back to carry it when the page is past the end
    (`in_page` = 0 on it then). Needs `:offset` and `:page_end` (offset + limit).
    """
    numbered = (
        f"SELECT r.*, {total} OVER () AS total, "
        f"ROW_NUMBER() OVER (ORDER BY {order_by}) AS row_number_ FROM {rows} r"
    )
    kept = (
        "SELECT n.*, CASE WHEN n.row_number_ > :offset THEN 1 ELSE 0 END AS in_page "
        f"FROM ({numbered}) n "
        "WHERE n.row_number_ = 1 OR (n.row_number_ > :offset AND n.row_number_ <= :page_end)"
    )
    return f"SELECT h.*, p.* FROM ({header}) h LEFT JOIN ({kept}) p ON 1 = 1 ORDER BY p.row_number_"


def _found(tables: Tables) -> str:
    return (
        f"(SELECT count(*) FROM {tables.sb1} WHERE b1_filial = :sb1_filial "
        f"AND b1_cod = :code AND {live()})"
    )


# --- products ----------------------------------------------------------------------------

PRODUCT_COLUMNS = "b1_cod, b1_desc, b1_grupo, b1_tipo, b1_um, b1_msblql"


@lru_cache(maxsize=64)
def list_products(dialect: Dialect, tables: Tables, include_blocked: bool) -> str:
    """SB1 in code order, first `:limit` rows; blocked products (B1_MSBLQL = '1') only on request."""
    blocked = "" if include_blocked else "AND b1_msblql <> '1'"
    return dialect.limit_rows(
        PRODUCT_COLUMNS,
        f"FROM {tables.sb1} WHERE b1_filial = :sb1_filial AND {live()} {blocked} ORDER BY b1_cod",
        ":limit",
    )


@lru_cache(maxsize=8)
def product(dialect: Dialect, tables: Tables) -> str:
    """One SB1 row by code, blocked or not."""
    return (
        "SELECT b1_cod, b1_desc, b1_grupo, b1_tipo, b1_um, b1_segum, b1_locpad, b1_msblql, "
        "b1_qb, b1_revatu, b1_custd, b1_operpad "
        f"FROM {tables.sb1} WHERE b1_filial = :sb1_filial AND b1_cod = :code AND {live()}"
    )


# --- ranked searches ----------------------------------------------------------------------


def _word_start(dialect: Dialect, haystack: str, index: int) -> str:
    """The term starts a word: the character before it is not a letter or digit."""
    if dialect.is_tsql:
        return f"(' ' + {haystack}) LIKE :w{index} ESCAPE '\\'"
    return f"(' ' || {haystack}) ~ :w{index}"


@lru_cache(maxsize=256)
def search_description(dialect: Dialect, tables: Tables, terms: int, include_blocked: bool) -> str:
    """SB1 rows whose normalised description contains at least one term, ranked.

    Score: +50 when the description contains the whole text `:q`; per term (the best rule
    only) +30/+20/+10 with one term, +25/+15/+5 with several, for the description starting
    with it / a word starting with it / containing it; plus 0..10 for similar length.
    Terms filter through LIKE on the indexed expression (pg_trgm GIN where installed).
    """
    norm = dialect.normalized("b1_desc")
    points = (30, 20, 10) if terms == 1 else (25, 15, 5)
    rules = [
        f"CASE WHEN {dialect.starts('nd', f':t{i}')} THEN {points[0]} "
        f"WHEN NOT ({dialect.contains('nd', f':t{i}')}) THEN 0 "  # spares the pattern test
        f"WHEN {_word_start(dialect, 'nd', i)} THEN {points[1]} "
        f"ELSE {points[2]} END"
        for i in range(terms)
    ]
    blocked = "" if include_blocked else "AND b1_msblql <> '1'"
    matches = " OR ".join(f"{norm} LIKE :l{i} ESCAPE '\\'" for i in range(terms))
    return f"""
WITH matched AS {dialect.materialized} (
    SELECT {PRODUCT_COLUMNS}, {norm} AS n
    FROM {tables.sb1}
    WHERE b1_filial = :sb1_filial AND {live()} {blocked} AND ({matches})
), matches AS (
    SELECT {PRODUCT_COLUMNS}, {dialect.collapse_blanks("n")} AS nd FROM matched
), scored AS (
    SELECT {PRODUCT_COLUMNS},
           CASE WHEN {dialect.contains("nd", ":q")} THEN 50 ELSE 0 END
           + {" + ".join(rules)}
           + {_similarity(dialect)} AS relevance_score
    FROM matches
)
{_paged(dialect, "SELECT (SELECT count(*) FROM matches) AS total", "scored", "relevance_score DESC, b1_cod")}
"""


def _similarity(dialect: Dialect) -> str:
    """floor(10 * (1 - |len(d) - len(q)| / max(len(d), len(q)))) in exact integer arithmetic."""
    ld = dialect.length("nd")
    longest = f"(CASE WHEN {ld} > :qlen THEN {ld} ELSE :qlen END)"
    return f"(10 * ({longest} - ABS({ld} - :qlen))) / {longest}"


@lru_cache(maxsize=256)
def search_products(
    dialect: Dialect,
    tables: Tables,
    terms: int,
    by_code: bool,
    by_group: bool,
    include_blocked: bool,
) -> str:
    """SB1 filtered by code (contains), group (equals) and description (the text or any term).

    Score: +50 when the description contains the whole text, +10 per term it contains,
    plus the same length similarity; products without a description filter score 0.
    """
    norm = dialect.normalized("b1_desc")
    filters = [f"b1_filial = :sb1_filial AND {live()}"]
    if not include_blocked:
        filters.append("b1_msblql <> '1'")
    if by_code:
        # PostgreSQL: the text cast is the expression the trigram index on codes is built on.
        code = "b1_cod" if dialect.is_tsql else "b1_cod::text"
        filters.append(f"{code} LIKE :code_like ESCAPE '\\'")
    if by_group:
        filters.append("b1_grupo = :group")
    if terms:
        filters.append(
            "(" + " OR ".join(f"{norm} LIKE :l{i} ESCAPE '\\'" for i in range(terms)) + ")"
        )
        score = " + ".join(
            [f"CASE WHEN {dialect.contains('nd', ':q')} THEN 50 ELSE 0 END"]
            + [
                f"CASE WHEN {dialect.contains('nd', f':t{i}')} THEN 10 ELSE 0 END"
                for i in range(terms)
            ]
            + [_similarity(dialect)]
        )
        nd = f", {dialect.collapse_blanks('n')} AS nd"
    else:
        score, nd = "0", ""
    return f"""
WITH matched AS {dialect.materialized} (
    SELECT {PRODUCT_COLUMNS}, {norm if terms else "''"} AS n
    FROM {tables.sb1}
    WHERE {" AND ".join(filters)}
), matches AS (
    SELECT {PRODUCT_COLUMNS}{nd} FROM matched
), scored AS (
    SELECT {PRODUCT_COLUMNS}, {score} AS relevance_score FROM matches
)
{_paged(dialect, "SELECT (SELECT count(*) FROM matches) AS total", "scored", "relevance_score DESC, b1_cod")}
"""


# --- bill of materials ----------------------------------------------------------------------


def _valid_line(g1: str, revision: str) -> str:
    """A BOM line valid on `:ref_date` for the parent's revision; blanks mean no bound.

    A parent without a current revision (blank B1_REVATU) has no revision control.
    """
    return (
        f"{live(g1)} "
        f"AND ({g1}.g1_ini = '' OR {g1}.g1_ini <= :ref_date) "
        f"AND ({g1}.g1_fim = '' OR {g1}.g1_fim >= :ref_date) "
        f"AND ({revision} = '' OR (({g1}.g1_revini = '' OR {g1}.g1_revini <= {revision}) "
        f"AND ({g1}.g1_revfim = '' OR {g1}.g1_revfim >= {revision})))"
    )


def _loss_factor(g1: str) -> str:
    """1 / (1 - loss%), the standard explosion's rule; a loss outside [0, 100) counts as 0."""
    return f"(CASE WHEN {g1}.g1_perda >= 0 AND {g1}.g1_perda < 100 THEN 100.0 / (100 - {g1}.g1_perda) ELSE 1 END)"


def _line_quantity(g1: str, parent: str) -> str:
    """Quantity for one unit of the line's parent: G1_QUANT / QB (0 or blank means 1), with loss."""
    qb = f"(CASE WHEN {parent}.b1_qb > 0 THEN {parent}.b1_qb ELSE 1 END)"
    return f"({g1}.g1_quant / {qb} * {_loss_factor(g1)})"


def _fixed_quantity(g1: str) -> str:
    """A fixed line (G1_FIXVAR = 'F') needs G1_QUANT whatever its parent's quantity."""
    return f"({g1}.g1_quant * {_loss_factor(g1)})"


def _segment(dialect: Dialect, code: str, trt: str | None = None) -> str:
    """One level of a depth-first sort key: chr(1) code chr(2) trt; chr(1) < chr(2) < any code."""
    parts = [dialect.chr(1), f"RTRIM({code})", dialect.chr(2)]
    if trt is not None:
        parts.append(f"RTRIM({trt})")
    return dialect.cat(*parts)


def _on_path(dialect: Dialect, key: str, code: str) -> str:
    """1 when `code` already stands on the path a sort key describes (a cycle)."""
    needle = dialect.cat(dialect.chr(1), f"RTRIM({code})", dialect.chr(2))
    return f"CASE WHEN {dialect.contains(key, needle)} THEN 1 ELSE 0 END"


def _explosion_cte(dialect: Dialect, tables: Tables) -> str:
    """`root` (the asked product) and `bom` (every line below it, depth-first keyed).

    Recursion stops at `:max_depth` and at a node whose component is already on its path
    (flagged `cycle`). SQL Server forbids outer joins and subqueries in the recursive
    member, so both members use inner joins only.
    """
    key_type = dialect.text
    return f"""{dialect.recursive} root AS (
    SELECT b1_cod, b1_desc, b1_um, b1_qb, b1_revatu
    FROM {tables.sb1} WHERE b1_filial = :sb1_filial AND b1_cod = :code AND {live()}
), bom (level, code, parent_code, trt, quantity, loss, fixvar, cumulative, sort_key, cycle) AS (
    SELECT 1, g1.g1_comp, g1.g1_cod, g1.g1_trt, g1.g1_quant, g1.g1_perda, g1.g1_fixvar,
           CAST(CASE WHEN g1.g1_fixvar = 'F' THEN {_fixed_quantity("g1")}
                     ELSE {_line_quantity("g1", "r")} END AS {dialect.float}),
           CAST({dialect.cat(_segment(dialect, "r.b1_cod"), _segment(dialect, "g1.g1_comp", "g1.g1_trt"))} AS {key_type}),
           CASE WHEN g1.g1_comp = r.b1_cod THEN 1 ELSE 0 END
    FROM root r
    JOIN {tables.sg1} g1 ON g1.g1_filial = :sg1_filial AND g1.g1_cod = r.b1_cod
         AND {_valid_line("g1", "r.b1_revatu")}
    UNION ALL
    SELECT b.level + 1, g1.g1_comp, g1.g1_cod, g1.g1_trt, g1.g1_quant, g1.g1_perda, g1.g1_fixvar,
           CAST(CASE WHEN g1.g1_fixvar = 'F' THEN {_fixed_quantity("g1")}
                     ELSE b.cumulative * {_line_quantity("g1", "p")} END AS {dialect.float}),
           CAST({dialect.cat("b.sort_key", _segment(dialect, "g1.g1_comp", "g1.g1_trt"))} AS {key_type}),
           {_on_path(dialect, "b.sort_key", "g1.g1_comp")}
    FROM bom b
    JOIN {tables.sb1} p ON p.b1_filial = :sb1_filial AND p.b1_cod = b.code AND {live("p")}
    JOIN {tables.sg1} g1 ON g1.g1_filial = :sg1_filial AND g1.g1_cod = b.code
         AND {_valid_line("g1", "p.b1_revatu")}
    WHERE b.level < :max_depth AND b.cycle = 0
)"""


def _capped(dialect: Dialect, source: str) -> str:
    # One row more than allowed is enough to refuse; PostgreSQL stops the recursion there.
    return dialect.limit_rows("*", f"FROM {source}", ":cap")


@lru_cache(maxsize=8)
def structure(dialect: Dialect, tables: Tables) -> str:
    """The BOM explosion (SG1 + SB1) of `:code`: header (found, description, total) and a page
    of nodes in depth-first order, siblings by G1_COMP then G1_TRT."""
    header = (
        "SELECT (SELECT count(*) FROM root) AS found, (SELECT MAX(b1_desc) FROM root) AS root_description, "
        "(SELECT MAX(b1_um) FROM root) AS root_unit"
    )
    return f"""{_explosion_cte(dialect, tables)}, capped AS ({_capped(dialect, "bom")}),
nodes AS (
    SELECT c.*, d.b1_desc AS description, d.b1_um AS unit
    FROM capped c
    LEFT JOIN {tables.sb1} d ON d.b1_filial = :sb1_filial AND d.b1_cod = c.code AND {live("d")}
)
{_paged_once(dialect, header, "nodes", f"sort_key {dialect.binary_order}")}
"""


@lru_cache(maxsize=8)
def parents(dialect: Dialect, tables: Tables) -> str:
    """Where-used of `:code`: every ancestor through SG1 up to `:max_depth`, with how much of
    the item one unit of each ancestor uses. Revision and validity as in the explosion (the
    line's parent's revision). Once a fixed line is passed, lines above it change nothing."""
    key_type = dialect.text
    up_qty = "u.cumulative * (CASE WHEN g1.g1_fixvar = 'F' THEN {fixed} ELSE {variable} END)"
    header = (
        "SELECT (SELECT count(*) FROM item) AS found, (SELECT MAX(b1_desc) FROM item) AS root_description, "
        "(SELECT MAX(b1_um) FROM item) AS root_unit"
    )
    return f"""{dialect.recursive} item AS (
    SELECT b1_cod, b1_desc, b1_um
    FROM {tables.sb1} WHERE b1_filial = :sb1_filial AND b1_cod = :code AND {live()}
), up (level, code, child_code, trt, quantity, loss, fixvar, cumulative, anchored, sort_key, cycle) AS (
    SELECT 1, g1.g1_cod, g1.g1_comp, g1.g1_trt, g1.g1_quant, g1.g1_perda, g1.g1_fixvar,
           CAST(CASE WHEN g1.g1_fixvar = 'F' THEN {_fixed_quantity("g1")}
                     ELSE {_line_quantity("g1", "p")} END AS {dialect.float}),
           CASE WHEN g1.g1_fixvar = 'F' THEN 1 ELSE 0 END,
           CAST({dialect.cat(_segment(dialect, "i.b1_cod"), _segment(dialect, "g1.g1_cod", "g1.g1_trt"))} AS {key_type}),
           CASE WHEN g1.g1_cod = i.b1_cod THEN 1 ELSE 0 END
    FROM item i
    JOIN {tables.sg1} g1 ON g1.g1_filial = :sg1_filial AND g1.g1_comp = i.b1_cod AND {live("g1")}
    JOIN {tables.sb1} p ON p.b1_filial = :sb1_filial AND p.b1_cod = g1.g1_cod AND {live("p")}
         AND {_valid_line("g1", "p.b1_revatu")}
    UNION ALL
    SELECT u.level + 1, g1.g1_cod, g1.g1_comp, g1.g1_trt, g1.g1_quant, g1.g1_perda, g1.g1_fixvar,
           CAST(CASE WHEN u.anchored = 1 THEN u.cumulative
                     ELSE {up_qty.format(fixed=_fixed_quantity("g1"), variable=_line_quantity("g1", "p"))} END
                AS {dialect.float}),
           CASE WHEN u.anchored = 1 OR g1.g1_fixvar = 'F' THEN 1 ELSE 0 END,
           CAST({dialect.cat("u.sort_key", _segment(dialect, "g1.g1_cod", "g1.g1_trt"))} AS {key_type}),
           {_on_path(dialect, "u.sort_key", "g1.g1_cod")}
    FROM up u
    JOIN {tables.sg1} g1 ON g1.g1_filial = :sg1_filial AND g1.g1_comp = u.code AND {live("g1")}
    JOIN {tables.sb1} p ON p.b1_filial = :sb1_filial AND p.b1_cod = g1.g1_cod AND {live("p")}
         AND {_valid_line("g1", "p.b1_revatu")}
    WHERE u.level < :max_depth AND u.cycle = 0
), capped AS ({_capped(dialect, "up")}),
nodes AS (
    SELECT c.*, d.b1_desc AS description, d.b1_um AS unit
    FROM capped c
    LEFT JOIN {tables.sb1} d ON d.b1_filial = :sb1_filial AND d.b1_cod = c.code AND {live("d")}
)
{_paged_once(dialect, header, "nodes", f"sort_key {dialect.binary_order}")}
"""


# --- routing ---------------------------------------------------------------------------------

GUIDE_COLUMNS = (
    "g2.g2_filial, g2.g2_produto, g2.g2_codigo, g2.g2_operac, g2.g2_recurso, g2.g2_ctrab, "
    "g2.g2_descri, g2.g2_setup, g2.g2_tempad, g2.g2_lotepad, g2.g2_maoobra, g2.g2_tpoper"
)


@lru_cache(maxsize=32)
def guide(dialect: Dialect, tables: Tables, include_components: bool, by_branch: bool) -> str:
    """SG2 operations of the product's routing (B1_OPERPAD, else '01'), and with
    `include_components` of every component of its explosion too, each at the shallowest
    BOM level it appears; joined on G2_CODIGO so other routings never duplicate rows."""
    if include_components:
        items = f"""{_explosion_cte(dialect, tables)}, capped AS ({_capped(dialect, "bom")}),
items AS (
    SELECT code, MIN(level) AS bom_level, SUM(CASE WHEN level > 0 THEN 1 ELSE 0 END) AS lines
    FROM (
        SELECT b1_cod AS code, 0 AS level FROM root
        UNION ALL SELECT code, level FROM capped
    ) x GROUP BY code
)"""
    else:
        items = f"""WITH root AS (
    SELECT b1_cod FROM {tables.sb1} WHERE b1_filial = :sb1_filial AND b1_cod = :code AND {live()}
), items AS (SELECT b1_cod AS code, 0 AS bom_level, 0 AS lines FROM root)"""
    branch = "AND g2.g2_filial = :sg2_filial" if by_branch else ""
    # Operations first; an item without one still gives a row (NULL operation columns) so
    # that `exploded`, the number of BOM lines, comes from the same single pass.
    # Per item (a nested loop on SG2's index, as an inner join would run).
    operations = f"""SELECT {GUIDE_COLUMNS}
        FROM {tables.sb1} b
        JOIN {tables.sg2} g2 ON g2.g2_produto = b.b1_cod AND {live("g2")} {branch}
             AND g2.g2_codigo = {routing_sql(operpad_sql("b"))}
        WHERE b.b1_filial = :sb1_filial AND b.b1_cod = i.code AND {live("b")}"""
    page = _paged_once(
        dialect,
        "SELECT (SELECT count(*) FROM root) AS found",
        "routes",
        "CASE WHEN g2_produto IS NULL THEN 1 ELSE 0 END, bom_level, g2_produto, g2_operac, g2_filial",
        total="SUM(CASE WHEN g2_produto IS NULL THEN 0 ELSE 1 END)",
    )
    return f"""{items},
counted AS (SELECT code, bom_level, SUM(lines) OVER () AS exploded FROM items),
routes AS (
    SELECT g2.*, i.bom_level, i.exploded
    FROM counted i
    {dialect.outer_lateral(operations, "g2")}
)
{page}
"""


# --- stock, suppliers, invoices ---------------------------------------------------------------


@lru_cache(maxsize=16)
def stock(dialect: Dialect, tables: Tables, by_branch: bool, by_location: bool) -> str:
    """SB2 balances of `:code` per branch and warehouse, with B1_SEGUM from SB1 (SB1's filial
    for each row's branch: its first `:sb1_kept` characters) and `available` = B2_QATU -
    B2_RESERVA - B2_QEMP - B2_QACLASS, 0 for a blocked balance (B2_STATUS '2')."""
    filters = [f"b2.b2_cod = :code AND {live('b2')}"]
    if by_branch:
        filters.append("b2.b2_filial = :sb2_filial")
    if by_location:
        filters.append("b2.b2_local = :location")
    return f"""WITH rows_ AS (
    SELECT b2.b2_filial, b2.b2_local, b2.b2_cod, b2.b2_qatu, b2.b2_qemp, b2.b2_reserva,
           b2.b2_qpedven, b2.b2_salpedi, b2.b2_qaclass, b2.b2_cm1, b2.b2_status, b1.b1_segum,
           CASE WHEN b2.b2_status = '2' THEN 0
                ELSE b2.b2_qatu - b2.b2_reserva - b2.b2_qemp - b2.b2_qaclass END AS available
    FROM {tables.sb2} b2
    LEFT JOIN {tables.sb1} b1 ON b1.b1_cod = b2.b2_cod AND {live("b1")}
         AND b1.b1_filial = {dialect.prefix("b2.b2_filial", ":sb1_kept")}
    WHERE {" AND ".join(filters)}
)
{_paged(dialect, f"SELECT {_found(tables)} AS found, (SELECT count(*) FROM rows_) AS total", "rows_", "b2_filial, b2_local")}
"""


@lru_cache(maxsize=8)
def suppliers(dialect: Dialect, tables: Tables) -> str:
    """SA5 links of `:code` with the supplier's name from SA2, joined on code + loja."""
    return f"""WITH rows_ AS (
    SELECT a5.a5_fornece, a5.a5_loja, a2.a2_nome, a5.a5_codprf, a5.a5_nomprod
    FROM {tables.sa5} a5
    LEFT JOIN {tables.sa2} a2 ON a2.a2_filial = :sa2_filial AND a2.a2_cod = a5.a5_fornece
         AND a2.a2_loja = a5.a5_loja AND {live("a2")}
    WHERE a5.a5_filial = :sa5_filial AND a5.a5_produto = :code AND {live("a5")}
)
{_paged(dialect, f"SELECT {_found(tables)} AS found, (SELECT count(*) FROM rows_) AS total", "rows_", "a5_fornece, a5_loja")}
"""


def _partner_join(
    dialect: Dialect,
    alias: str,
    table: str,
    item: str,
    p: str,
    partner_col: str,
    kept: str,
    when: str,
) -> str:
    """SA1/SA2 on code + loja, in the filial the partner table uses for the item's branch."""
    prefix = alias[1:3]  # a1 / a2
    return (
        f"LEFT JOIN {table} {alias} ON {when} AND {alias}.{prefix}_cod = {item}.{partner_col} "
        f"AND {alias}.{prefix}_loja = {item}.{p}_loja AND {live(alias)} "
        f"AND {alias}.{prefix}_filial = {dialect.prefix(f'{item}.{p}_filial', kept)}"
    )


@lru_cache(maxsize=64)
def invoice_items(
    dialect: Dialect,
    tables: Tables,
    direction: Literal["inbound", "outbound"],
    by_branch: bool,
    by_supplier: bool,
    by_customer: bool,
    since: bool,
    until: bool,
) -> str:
    """Inbound (SD1 + SF1) or outbound (SD2 + SF2) items of `:code`, newest first.

    The partner is a supplier (SA2) on normal documents and a customer (SA1) on types D
    (return) and B (sent for processing) of inbound items; the other way round outbound.
    The header joins on its whole key, type included: the same number, series and partner
    code can be a purchase from a supplier and a return from a customer. `:supplier` and
    `:customer` match the partner code only on documents whose partner is of that kind
    (either of them when both are given).
    """
    if direction == "inbound":
        item, head, p, partner_col, header_partner = "d1", "f1", "d1", "d1_fornece", "f1_fornece"
        columns = (
            "d1.d1_filial, d1.d1_doc, d1.d1_serie, d1.d1_fornece, d1.d1_loja, d1.d1_item, d1.d1_cod, "
            "d1.d1_um, d1.d1_quant, d1.d1_vunit, d1.d1_total, d1.d1_tes, d1.d1_cf, d1.d1_local, "
            "d1.d1_emissao, d1.d1_dtdigit, d1.d1_tipo, d1.d1_pedido, d1.d1_lotectl"
        )
        item_table, head_table = tables.sd1, tables.sf1
    else:
        item, head, p, partner_col, header_partner = "d2", "f2", "d2", "d2_cliente", "f2_cliente"
        columns = (
            "d2.d2_filial, d2.d2_doc, d2.d2_serie, d2.d2_cliente, d2.d2_loja, d2.d2_item, d2.d2_cod, "
            "d2.d2_um, d2.d2_quant, d2.d2_prcven, d2.d2_total, d2.d2_tes, d2.d2_cf, d2.d2_local, "
            "d2.d2_emissao, d2.d2_tipo, d2.d2_pedido, d2.d2_lotectl"
        )
        item_table, head_table = tables.sd2, tables.sf2
    filters = [f"{item}.{p}_cod = :code AND {live(item)}"]
    if by_branch:
        filters.append(f"{item}.{p}_filial = :item_filial")
    special = f"{item}.{p}_tipo IN ('D', 'B')"
    customer_when, supplier_when = (
        (special, f"NOT {special}") if direction == "inbound" else (f"NOT {special}", special)
    )
    partners = []
    if by_supplier:
        partners.append(f"({item}.{partner_col} = :supplier AND {supplier_when})")
    if by_customer:
        partners.append(f"({item}.{partner_col} = :customer AND {customer_when})")
    if partners:
        filters.append(f"({' OR '.join(partners)})")
    if since:
        filters.append(f"{item}.{p}_emissao >= :since")
    if until:
        filters.append(f"{item}.{p}_emissao <= :until")
    return f"""WITH rows_ AS (
    SELECT {columns}, COALESCE(sa1.a1_nome, sa2.a2_nome) AS partner_name,
           CASE WHEN {customer_when} THEN 'customer' ELSE 'supplier' END AS partner_type
    FROM {item_table} {item}
    JOIN {head_table} {head} ON {head}.{head}_filial = {dialect.prefix(f"{item}.{p}_filial", ":head_kept")} AND {head}.{head}_doc = {item}.{p}_doc
         AND {head}.{head}_serie = {item}.{p}_serie AND {head}.{header_partner} = {item}.{partner_col}
         AND {head}.{head}_loja = {item}.{p}_loja AND {head}.{head}_tipo = {item}.{p}_tipo
         AND {live(head)}
    {_partner_join(dialect, "sa1", tables.sa1, item, p, partner_col, ":sa1_kept", customer_when)}
    {_partner_join(dialect, "sa2", tables.sa2, item, p, partner_col, ":sa2_kept", supplier_when)}
    WHERE {" AND ".join(filters)}
)
{_paged(dialect, f"SELECT {_found(tables)} AS found, (SELECT count(*) FROM rows_) AS total", "rows_", f"{p}_emissao DESC, {p}_doc, {p}_serie, {p}_item, {p}_filial, {partner_col}, {p}_loja")}
"""
