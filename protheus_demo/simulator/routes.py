"""The simulator's URL table: the AppServer REST paths the production service calls, and /_sim."""

from __future__ import annotations

from aiohttp import web

from protheus_demo.simulator import appointments, auth, faults, orders, stops

ORDERS_PATH = "/rest/api/pcp/v1/productionorders"
MATA681_PATH = "/rest/ProductionAppointment/v1/mata681"
STOP_REPORTS_PATH = "/rest/api/pcp/v1/stopReports"


async def healthz(request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


def register(app: web.Application) -> None:
    router = app.router
    router.add_get("/healthz", healthz, name="healthz")
    router.add_post(auth.OAUTH2_PATH, auth.token_grant, name="token")
    router.add_get(ORDERS_PATH, orders.list_production_orders, name="production_orders")
    router.add_get(
        ORDERS_PATH + "/{branchId}/{productionOrder}",
        orders.get_production_order,
        name="production_order",
    )
    router.add_post(MATA681_PATH, appointments.post_appointment, name="mata681")
    router.add_post(STOP_REPORTS_PATH, stops.post_stop_report, name="stop_reports_post")
    router.add_get(STOP_REPORTS_PATH, stops.list_stop_reports, name="stop_reports")
    router.add_get(
        STOP_REPORTS_PATH + "/{IntegrationReport}", stops.get_stop_report, name="stop_report"
    )
    router.add_delete(
        STOP_REPORTS_PATH + "/{IntegrationReport}/reversal",
        stops.reverse_stop_report,
        name="stop_report_reversal",
    )
    router.add_get("/_sim/faults", faults.get_fault_settings, name="sim_faults")
    router.add_put("/_sim/faults", faults.put_fault_settings, name="sim_faults_put")
    router.add_post("/_sim/reset", faults.reset_faults, name="sim_reset")
