"""OAuth2 grants, refresh rotation, Basic auth and the 401s every other route gives."""

from __future__ import annotations

import asyncio
import base64

from tests.support.simulator import (
    BASIC,
    PASSWORD,
    USER,
    appointment_body,
    assert_fault,
    find_order,
    sh6_count,
)

TOKEN = "/rest/api/oauth2/v1/token"
ORDERS = "/rest/api/pcp/v1/productionorders"
MATA681 = "/rest/ProductionAppointment/v1/mata681"


async def password_grant(client, user=USER, password=PASSWORD):
    return await client.post(
        TOKEN, params={"grant_type": "password", "username": user, "password": password}
    )


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def test_password_grant_answers_201_with_a_bearer_pair(module_demo_dsn, start_simulator):
    client = await start_simulator(module_demo_dsn)
    resp = await password_grant(client)
    body = await resp.json()
    assert resp.status == 201
    assert set(body) == {"access_token", "refresh_token", "token_type", "expires_in", "scope"}
    assert body["token_type"] == "Bearer"
    assert body["expires_in"] == 3600
    assert body["access_token"] != body["refresh_token"]
    resp = await client.get(ORDERS, headers=bearer(body["access_token"]))
    assert resp.status == 200


async def test_grant_accepts_a_form_body_too(module_demo_dsn, start_simulator):
    client = await start_simulator(module_demo_dsn)
    resp = await client.post(
        TOKEN, data={"grant_type": "password", "username": USER, "password": PASSWORD}
    )
    assert resp.status == 201


async def test_bad_credentials_get_401_in_the_fault_shape(module_demo_dsn, start_simulator):
    client = await start_simulator(module_demo_dsn)
    await assert_fault(await password_grant(client, password="wrong"), 401)
    await assert_fault(await password_grant(client, user="admin"), 401)


async def test_unknown_grant_type_is_400(module_demo_dsn, start_simulator):
    client = await start_simulator(module_demo_dsn)
    await assert_fault(await client.post(TOKEN, params={"grant_type": "client_credentials"}), 400)
    await assert_fault(await client.post(TOKEN), 400)


async def test_refresh_gives_a_new_pair_and_the_old_refresh_token_dies(
    module_demo_dsn, start_simulator
):
    client = await start_simulator(module_demo_dsn)
    first = await (await password_grant(client)).json()
    resp = await client.post(
        TOKEN, params={"grant_type": "refresh_token", "refresh_token": first["refresh_token"]}
    )
    second = await resp.json()
    assert resp.status == 201
    assert second["access_token"] != first["access_token"]
    assert second["refresh_token"] != first["refresh_token"]
    assert (await client.get(ORDERS, headers=bearer(second["access_token"]))).status == 200

    reused = await client.post(
        TOKEN, params={"grant_type": "refresh_token", "refresh_token": first["refresh_token"]}
    )
    await assert_fault(reused, 401)
    again = await client.post(
        TOKEN, params={"grant_type": "refresh_token", "refresh_token": second["refresh_token"]}
    )
    assert again.status == 201


async def test_unknown_or_expired_refresh_token_is_401(module_demo_dsn, start_simulator):
    client = await start_simulator(module_demo_dsn, refresh_ttl_s=0.2)
    unknown = await client.post(TOKEN, params={"grant_type": "refresh_token", "refresh_token": "x"})
    await assert_fault(unknown, 401)
    pair = await (await password_grant(client)).json()
    await asyncio.sleep(0.3)
    expired = await client.post(
        TOKEN, params={"grant_type": "refresh_token", "refresh_token": pair["refresh_token"]}
    )
    await assert_fault(expired, 401)


async def test_access_token_expires_after_the_configured_life(module_demo_dsn, start_simulator):
    client = await start_simulator(module_demo_dsn, access_ttl_s=0.2)
    pair = await (await password_grant(client)).json()
    assert (await client.get(ORDERS, headers=bearer(pair["access_token"]))).status == 200
    await asyncio.sleep(0.3)
    await assert_fault(await client.get(ORDERS, headers=bearer(pair["access_token"])), 401)


async def test_basic_auth_with_the_configured_user_is_accepted(module_demo_dsn, start_simulator):
    client = await start_simulator(module_demo_dsn)
    assert (await client.get(ORDERS, headers=BASIC)).status == 200
    wrong = base64.b64encode(b"mesinteg:nope").decode()
    await assert_fault(await client.get(ORDERS, headers={"Authorization": f"Basic {wrong}"}), 401)
    await assert_fault(await client.get(ORDERS, headers={"Authorization": "Basic %%%"}), 401)


async def test_missing_or_unknown_credentials_get_401(module_demo_dsn, start_simulator):
    client = await start_simulator(module_demo_dsn)
    resp = await client.get(ORDERS)
    await assert_fault(resp, 401)
    assert resp.headers["WWW-Authenticate"].startswith("Bearer")
    await assert_fault(await client.get(ORDERS, headers=bearer("not-a-token")), 401)
    await assert_fault(await client.get(f"{ORDERS}/01/00010101001"), 401)
    await assert_fault(await client.get("/_sim/faults"), 401)


async def test_appointment_without_auth_is_401_and_writes_nothing(module_demo_dsn, start_simulator):
    client = await start_simulator(module_demo_dsn)
    order = await find_order(module_demo_dsn, "accepting")
    before = await sh6_count(module_demo_dsn)
    await assert_fault(await client.post(MATA681, json=appointment_body(order)), 401)
    assert await sh6_count(module_demo_dsn) == before


async def test_healthz_needs_no_auth_and_unknown_rest_paths_are_404(
    module_demo_dsn, start_simulator
):
    client = await start_simulator(module_demo_dsn)
    assert (await client.get("/healthz")).status == 200
    await assert_fault(await client.get("/rest/api/pcp/v1/nothing", headers=BASIC), 404)
    await assert_fault(await client.get(TOKEN), 405)
