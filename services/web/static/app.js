// The single-page app: hash router, sign-in state, the live stream and the page modules
// (loaded on demand: the plant page downloads only what it draws).

import { allows, api, clearKey, getKey, setUnauthorizedHandler } from "./lib/api.js";
import { LiveStream } from "./lib/live.js";
import { announce, esc, failure, learnPlantOffset, notice, setPlantTimezone } from "./lib/ui.js";

const PAGES = {
  signin: { load: () => import("./pages/signin.js"), title: "Entrar" },
  plant: { load: () => import("./pages/plant.js"), title: "Planta", scope: "telemetry:read" },
  machine: { load: () => import("./pages/machine.js"), title: "Máquina", scope: "telemetry:read" },
  orders: { load: () => import("./pages/orders.js"), title: "Ordens", scope: "production:read" },
  order: { load: () => import("./pages/order.js"), title: "Ordem", scope: "production:read" },
  stops: { load: () => import("./pages/stops.js"), title: "Paradas", scope: "production:read" },
  maintenance: {
    load: () => import("./pages/maintenance.js"),
    title: "Manutenção",
    scope: "telemetry:read",
  },
};

const NAV = [
  { page: "plant", href: "#/planta", label: "Planta" },
  { page: "orders", href: "#/ordens", label: "Ordens" },
  { page: "stops", href: "#/paradas", label: "Paradas" },
  { page: "maintenance", href: "#/manutencao", label: "Manutenção" },
];

const main = document.querySelector("main");
const nav = document.getElementById("nav");
const who = document.getElementById("who");
const signoutButton = document.getElementById("signout");

let session = null; // {name, scopes} of the signed-in key
let current = null; // {page, controller, cleanups}
let firstRoute = true;

const live = new LiveStream({
  getKey,
  onUnauthorized: () => signOut("Sua sessão expirou ou a chave foi revogada. Entre de novo."),
  indicator: document.querySelector("[data-live]"),
});

// Times are shown and sent in the plant's clock: its zone comes with the session; until then
// the offset state events carry stands in.
live.on("machine.state", (event) => learnPlantOffset(event.ts));

setUnauthorizedHandler(() => signOut("Sua sessão expirou ou a chave foi revogada. Entre de novo."));

let signoutReason = null;

function signOut(reason = null) {
  clearKey();
  session = null;
  live.stop();
  signoutReason = reason;
  renderChrome();
  if (location.hash !== "#/entrar") location.hash = "#/entrar";
  else route();
}

document.getElementById("skip").addEventListener("click", () => main.focus());

signoutButton.addEventListener("click", () => {
  signOut(null);
  announce("Você saiu.");
});

/** Parses the hash: `#/ordens/0001?status=open` -> {page, params, query}. */
function parse(hash) {
  const text = hash.replace(/^#\/?/, "");
  const [pathText, queryText = ""] = text.split("?");
  const parts = pathText.split("/").filter(Boolean).map(decodeURIComponent);
  const query = Object.fromEntries(new URLSearchParams(queryText));
  const [head, id] = parts;
  switch (head) {
    case "entrar":
      return { page: "signin", params: {}, query };
    case undefined:
    case "planta":
      return { page: "plant", params: {}, query };
    case "maquinas":
      return id ? { page: "machine", params: { machine: id }, query } : { page: "plant", params: {}, query };
    case "ordens":
      return id ? { page: "order", params: { order: id }, query } : { page: "orders", params: {}, query };
    case "paradas":
      return { page: "stops", params: {}, query };
    case "manutencao":
      return { page: "maintenance", params: {}, query };
    default:
      return { page: "notfound", params: {}, query };
  }
}

/** The first page the key may see (the plant, else orders). */
function homeHash() {
  if (!session || allows(session.scopes, "telemetry:read")) return "#/planta";
  if (allows(session.scopes, "production:read")) return "#/ordens";
  return "#/planta";
}

function renderChrome() {
  const signedIn = Boolean(session);
  signoutButton.hidden = !signedIn;
  who.textContent = signedIn ? session.name || "" : "";
  if (!signedIn) {
    nav.innerHTML = "";
    return;
  }
  const active = current ? current.page : null;
  nav.innerHTML = NAV.filter((item) => allows(session.scopes, PAGES[item.page].scope))
    .map((item) => {
      const on =
        active === item.page ||
        (item.page === "plant" && active === "machine") ||
        (item.page === "orders" && active === "order");
      return `<a href="${item.href}"${on ? ' aria-current="page"' : ""}>${esc(item.label)}</a>`;
    })
    .join("");
}

async function ensureSession() {
  if (session) return session;
  session = await api("/api/v1/session");
  setPlantTimezone(session && session.timezone);
  renderChrome();
  live.start();
  return session;
}

function leave() {
  if (!current) return;
  current.controller.abort();
  for (const cleanup of current.cleanups) {
    try {
      cleanup();
    } catch (error) {
      console.error(error);
    }
  }
  current = null;
}

async function route() {
  const target = parse(location.hash);
  if (!getKey() && target.page !== "signin") {
    location.replace("#/entrar");
    return;
  }
  if (getKey() && target.page === "signin" && session) {
    location.replace(homeHash());
    return;
  }
  leave();
  const controller = new AbortController();
  const cleanups = [];
  current = { page: target.page, controller, cleanups };
  const state = current;

  main.dataset.page = target.page;
  main.dataset.ready = "false";
  main.setAttribute("aria-busy", "true");
  renderChrome();

  const ready = () => {
    if (current !== state) return;
    main.dataset.ready = "true";
    main.removeAttribute("aria-busy");
  };

  if (target.page === "notfound") {
    main.innerHTML = `<h1>Página não encontrada</h1><p><a href="${homeHash()}">Voltar ao início</a></p>`;
    document.title = "Página não encontrada · MES";
    ready();
    return;
  }

  const spec = PAGES[target.page];
  document.title = `${spec.title} · MES`;
  main.innerHTML = notice("Carregando…");

  try {
    const [module] = await Promise.all([
      loadPage(spec),
      target.page === "signin" ? null : ensureSession(),
    ]);
    if (current !== state) return;
    renderChrome();
    if (target.page === "plant" && !allows(session.scopes, "telemetry:read") && homeHash() !== "#/planta") {
      location.replace(homeHash());
      return;
    }
    if (spec.scope && !allows(session.scopes, spec.scope)) {
      main.innerHTML = `<h1>${esc(spec.title)}</h1>${notice("Sua chave de API não dá acesso a esta página.", "warning")}`;
      ready();
      return;
    }
    const ctx = {
      main,
      params: target.params,
      query: target.query,
      session,
      live,
      signal: controller.signal,
      ready,
      active: () => current === state,
      onEvent: (type, handler) => cleanups.push(live.on(type, handler)),
      onPoll: (handler) => cleanups.push(live.onPoll(handler)),
      onLeave: (handler) => cleanups.push(handler),
      allows: (scope) => allows(session ? session.scopes : [], scope),
      signedIn: (data) => {
        session = data;
        setPlantTimezone(data && data.timezone);
        signoutReason = null;
        renderChrome();
        live.start();
        location.hash = homeHash();
      },
      signoutReason,
    };
    await module.render(ctx);
    if (!firstRoute && current === state) {
      const heading = main.querySelector("h1");
      (heading || main).setAttribute("tabindex", "-1");
      (heading || main).focus({ preventScroll: false });
    }
    firstRoute = false;
  } catch (error) {
    if (error && error.name === "AbortError") return;
    if (current !== state) return;
    if (error && error.status === 401) return; // signing out already
    console.error(error);
    main.innerHTML = `<h1>${esc(spec.title)}</h1>${notice(failure(error), "error")}<p><button type="button" data-action="retry">Tentar de novo</button></p>`;
    main.querySelector("[data-action=retry]").addEventListener("click", () => route());
    ready();
  }
}

// After a redeploy the files of the version this page was loaded with are gone (404): a page
// module that fails to load reloads the app once (the key stays in sessionStorage).
const RELOADED = "mes.reloadedForVersion";

async function loadPage(spec) {
  try {
    const module = await spec.load();
    sessionStorage.removeItem(RELOADED);
    return module;
  } catch (error) {
    if (!sessionStorage.getItem(RELOADED)) {
      sessionStorage.setItem(RELOADED, "1");
      location.reload();
      return new Promise(() => {}); // the reload takes over
    }
    throw error;
  }
}

window.addEventListener("hashchange", route);

if (!location.hash || location.hash === "#" || location.hash === "#/") {
  location.replace(getKey() ? "#/planta" : "#/entrar");
}
route();
