"""BOM pages: rows in depth-first order become nested nodes, as the seed shows them."""

from __future__ import annotations

from typing import Any


def node(row: dict[str, Any]) -> dict[str, Any]:
    """One BOM node with the field names DESIGN.md fixes for `structure` and `parents`."""
    loss = float(row["loss"])
    return {
        "code": row["code"],
        "description": row["description"],
        "quantity": float(row["quantity"]),
        "level": int(row["level"]),
        "trt": row["trt"],
        "cumulativeQuantity": round(float(row["cumulative"]), 10),
        "loss": loss,
        "invalidLoss": not 0 <= loss < 100,
        "fixed": row["fixvar"] == "F",
        "unit": row["unit"],
        "cycle": bool(row["cycle"]),
        "components": [],
    }


def nest_page(rows: list[dict[str, Any]], parent_key: str) -> list[dict[str, Any]]:
    """Nest a page of depth-first rows; a row whose parent is on an earlier page hangs at
    the top of the page's tree and names it in `parentCode`."""
    top: list[dict[str, Any]] = []
    stack: list[
        dict[str, Any]
    ] = []  # the open path: stack[i] is the node at level stack[0].level + i
    for row in rows:
        item = node(row)
        while stack and stack[-1]["level"] >= item["level"]:
            stack.pop()
        if stack and stack[-1]["level"] == item["level"] - 1:
            stack[-1]["components"].append(item)
        else:
            if item["level"] > 1:  # level 1 hangs from the root, which every page carries
                item["parentCode"] = row[parent_key]
            top.append(item)
            stack.clear()
        stack.append(item)
    return top


def flat_page(rows: list[dict[str, Any]], parent_key: str) -> list[dict[str, Any]]:
    """`format=flat`: the page's rows as a list, each naming its parent, without `components`."""
    items = []
    for row in rows:
        item = node(row)
        del item["components"]
        item["parentCode"] = row[parent_key]
        items.append(item)
    return items
