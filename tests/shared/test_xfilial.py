"""xFilial under Gestão de Empresas (PROTHEUS.md section 4): the prefix each table keeps."""

from __future__ import annotations

import pytest

from shared.protheus.branches import BranchError, ShareMode, xfilial

EEUUFF = {"company_len": 2, "unit_len": 2, "branch_len": 2}


@pytest.mark.parametrize(
    ("modes", "expected"),
    [
        (("E", "E", "E"), "01SP01"),  # all exclusive: the whole code
        (("E", "E", "C"), "01SP  "),  # unit E, branch C
        (("E", "C", "C"), "01    "),  # company E, unit C
        (("C", "C", "C"), "      "),  # all shared: blanks
        # Hierarchical: a shared segment blanks every segment after it.
        (("E", "C", "E"), "01    "),
        (("C", "E", "E"), "      "),
    ],
)
def test_protheus_md_examples(modes: tuple[str, str, str], expected: str) -> None:
    company, unit, branch = modes
    mode = ShareMode(branch=branch, company=company, unit=unit, **EEUUFF)
    assert xfilial("01SP01", mode, 6) == expected


def test_padded_to_the_filial_width() -> None:
    mode = ShareMode(branch="C", company="E", unit="E", **EEUUFF)
    assert xfilial("01SP01", mode, 8) == "01SP    "
    assert xfilial("01SP01", ShareMode(branch="E", company="E", unit="E", **EEUUFF), 8) == (
        "01SP01  "
    )


@pytest.mark.parametrize(
    "mode",
    [
        ShareMode(branch="C"),  # no MODOEMP/MODOUN columns
        ShareMode(branch="C", company="E", unit="E"),  # lengths 0
        ShareMode(branch="C", company=" ", unit="", **EEUUFF),  # blank modes
    ],
)
def test_old_dictionaries_only_x2_modo_counts(mode: ShareMode) -> None:
    assert xfilial("01SP01", mode, 8) == " " * 8
    exclusive = ShareMode(
        branch="E",
        company=mode.company,
        unit=mode.unit,
        company_len=mode.company_len,
        unit_len=mode.unit_len,
        branch_len=mode.branch_len,
    )
    assert xfilial("01SP01", exclusive, 8) == "01SP01  "
    assert xfilial("01", None, 2) == "01"  # unknown table: exclusive, whole code


def test_layout_declares_the_code_length() -> None:
    assert ShareMode(branch="C", company="E", unit="E", **EEUUFF).code_length == 6
    assert ShareMode(branch="C").code_length is None
    assert issubclass(BranchError, Exception)
