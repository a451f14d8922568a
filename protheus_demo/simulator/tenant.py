"""The branch a request works in: the `tenantId: <company>,<branch>` header, else the configured one."""

from __future__ import annotations

from aiohttp import web

from protheus_demo.simulator.errors import RestFault
from protheus_demo.simulator.keys import get_config
from shared.settings import BRANCH_PATTERN


def request_branch(request: web.Request) -> str:
    """The tenantId header's branch, checked against the configured company."""
    config = get_config(request.app)
    header = request.headers.get("tenantId")
    if header is None or not header.strip():
        return config.branch
    company, sep, branch = (part.strip() for part in header.partition(","))
    if not sep or not BRANCH_PATTERN.match(branch):
        raise RestFault(
            400,
            f"Cabeçalho tenantId inválido: {header!r}. Use <empresa>,<filial>, ex.: 01,01.",
            "TENANTID: formato inválido",
        )
    if company != config.company:
        raise RestFault(
            400,
            f"Empresa {company} não disponível neste servidor (tenantId).",
            f"TENANTID: o ambiente atende a empresa {config.company}",
        )
    return branch
