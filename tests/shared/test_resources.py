"""Each service's resources come with their /readyz checks, in the order the service lists them."""

from __future__ import annotations

import pytest

from services.analytics.app import create_app as create_analytics
from services.catalog.app import create_app as create_catalog
from services.production.app import create_app as create_production
from services.telemetry.app import create_app as create_telemetry
from shared.app import Resource, add_resources, create_base_app
from shared.health import add_check
from shared.keys import HEALTH_CHECKS
from shared.settings import Settings


@pytest.mark.parametrize(
    ("create_app", "checks"),
    [
        (create_catalog, [("audit", False), ("protheus_db", True)]),
        (
            create_production,
            [("audit", False), ("mes_db", True), ("protheus_db", False), ("protheus_rest", False)],
        ),
        (
            create_telemetry,
            [
                ("audit", False),
                ("mes_db", True),
                ("protheus_db", False),
                ("mqtt_broker", False),
                ("telemetry_ingestor", False),
            ],
        ),
        (
            create_analytics,
            [
                ("audit", False),
                ("mes_db", True),
                ("protheus_db", False),
                ("analytics_jobs", False),
                ("alert_publisher", False),
            ],
        ),
    ],
)
def test_listed_resources_register_their_checks(create_app, checks):
    app = create_app(Settings())
    assert [(check.name, check.required) for check in app[HEALTH_CHECKS]] == checks


def test_a_resource_listed_twice_opens_once_and_keeps_its_first_check():
    async def pool(app):
        yield

    def check(required):
        async def probe():
            return None

        return lambda app: add_check(app, "pool", probe, required=required)

    app = create_base_app(Settings())
    add_resources(app, Resource(pool, check(True)))
    add_resources(app, Resource(pool, check(False)), pool)
    assert [context for context in app.cleanup_ctx if context is pool] == [pool]
    assert [(c.name, c.required) for c in app[HEALTH_CHECKS]] == [("pool", True)]
