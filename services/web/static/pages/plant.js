// #/planta: every machine grouped by line, coloured by state (with the state's name),
// current order and product, OEE of the current shift, open anomalies and failure risk.
// Three requests in parallel, one DOM build; live `machine.state`, `anomaly` and `risk`
// events change the tiles in place (polling every 5 s when the stream is down).

import { api } from "../lib/api.js";
import { loadPlant } from "../lib/plant.js";
import {
  STATES,
  STATE_LABELS,
  announce,
  esc,
  fmtRange,
  notice,
  oeeClass,
  pct,
  stateKey,
} from "../lib/ui.js";

const REFRESH_MS = 60000; // OEE and orders move slowly: the whole summary once a minute

/** An optional route (anomalies, risk): its data, or null when absent or not allowed. */
async function optional(path, signal) {
  try {
    return await api(path, { signal });
  } catch (error) {
    if (error && (error.name === "AbortError" || error.status === 401)) throw error;
    return null;
  }
}

function openAnomalies(page) {
  if (!page || !Array.isArray(page.data)) return null;
  const byMachine = new Map();
  for (const item of page.data) {
    if (item.status && item.status !== "open") continue;
    if (!byMachine.has(item.machine)) byMachine.set(item.machine, new Set());
    byMachine.get(item.machine).add(String(item.id));
  }
  return byMachine;
}

function riskByMachine(page) {
  if (!page || !Array.isArray(page.data)) return null;
  const byMachine = new Map();
  for (const item of page.data) byMachine.set(item.machine, item);
  return byMachine;
}

function oeeSpan(oee) {
  const value = oee && typeof oee.oee === "number" ? oee.oee : null;
  if (value === null) {
    return `<span data-oee="" title="OEE do turno: sem dados">OEE —</span>`;
  }
  return `<span data-oee="${value}" class="${oeeClass(value)}" title="OEE do turno: disponibilidade ${pct(oee.availability)}, desempenho ${pct(oee.performance)}, qualidade ${pct(oee.quality)}">OEE ${pct(value)}</span>`;
}

function anomalySpan(ids) {
  const count = ids ? ids.size : 0;
  const text = count === 1 ? "1 anomalia" : `${count} anomalias`;
  return `<span data-anomalies="${count}" class="anomalies${count ? " has" : ""}">${text}</span>`;
}

function riskSpan(item) {
  const value = item && typeof item.risk === "number" ? item.risk : null;
  if (value === null) return `<span data-risk="" class="risk">Risco —</span>`;
  return `<span data-risk="${value}" class="risk${item.alert ? " alert" : ""}">Risco ${pct(value)}${item.alert ? " ⚠" : ""}</span>`;
}

function orderText(machine) {
  if (!machine.order && !machine.product) return "Sem ordem";
  return [machine.order ? `OP ${machine.order}` : null, machine.product].filter(Boolean).join(" · ");
}

function tile(machine, anomalies, risks) {
  const state = stateKey(machine.state);
  const code = machine.machine;
  return `<a class="machine" data-machine="${esc(code)}" data-state="${state}" href="#/maquinas/${encodeURIComponent(code)}"><span class="m-head"><span class="m-code">${esc(code)}</span><span class="state-label">${STATE_LABELS[state]}</span></span><span class="m-desc">${esc(machine.description || "")}</span><span class="m-order">${esc(orderText(machine))}</span><span class="m-foot">${oeeSpan(machine.oee)}${anomalies ? anomalySpan(anomalies.get(code)) : ""}${risks ? riskSpan(risks.get(code)) : ""}</span></a>`;
}

function lineName(line) {
  return [line.site, line.area, line.line].filter(Boolean).join(" / ") || "Sem linha";
}

function summary(counts) {
  return STATES.concat("unknown")
    .filter((state) => counts[state])
    .map(
      (state) =>
        `<li class="state-badge" data-state="${state}"><span class="dot" aria-hidden="true"></span>${STATE_LABELS[state]}: <strong data-count="${state}">${counts[state]}</strong></li>`,
    )
    .join("");
}

export async function render(ctx) {
  const { main, signal } = ctx;
  // Events that arrive while the summary loads are kept and applied once it is drawn: the
  // listeners are there before the requests go out, so no change falls in between.
  let pending = [];
  const later = (type) => (event) => (pending ? pending.push([type, event]) : handlers[type](event));
  const handlers = {};
  for (const type of ["machine.state", "anomaly", "risk"]) ctx.onEvent(type, later(type));
  // The latest state each machine's events told, with its device time: a summary read
  // before it (older stateSince) does not paint it back.
  const eventStates = new Map();
  // The stateSince of the summary drawn, per machine: an event older than it changes nothing.
  const summarySince = new Map();
  let busy = false; // a refresh under way

  const [plant, anomalyPage, riskPage] = await Promise.all([
    loadPlant({ signal }),
    optional("/api/v1/anomalies?status=open&page_size=500", signal),
    optional("/api/v1/maintenance/risk?page_size=500", signal),
  ]);
  if (!ctx.active()) return;

  /** The state to show for a machine of a summary: the summary's, unless an event told a
   * later one. */
  function stateOf(machine) {
    summarySince.set(machine.machine, Date.parse(machine.stateSince));
    const told = eventStates.get(machine.machine);
    if (!told) return machine.state;
    const since = Date.parse(machine.stateSince);
    return Number.isNaN(since) || told.at > since ? told.state : machine.state;
  }

  let anomalies = openAnomalies(anomalyPage);
  let risks = riskByMachine(riskPage);
  let tiles = new Map();
  let codes = "";

  // Natural order inside a line: PRENS2 before PRENS10.
  const collator = new Intl.Collator("pt-BR", { numeric: true, sensitivity: "base" });

  function draw(data) {
    const lines = [...(data.lines || [])].sort((a, b) => collator.compare(lineName(a), lineName(b)));
    for (const line of lines) line.machines = [...(line.machines || [])].sort((a, b) => collator.compare(a.machine, b.machine));
    const counts = {};
    const parts = [];
    let total = 0;
    for (const line of lines) {
      const machines = (line.machines || []).map((m) => ({ ...m, state: stateOf(m) }));
      total += machines.length;
      for (const machine of machines) {
        const state = stateKey(machine.state);
        counts[state] = (counts[state] || 0) + 1;
      }
      parts.push(
        `<section class="line"><h2>${esc(lineName(line))} <span class="count">(${machines.length})</span></h2><div class="tiles">${machines.map((m) => tile(m, anomalies, risks)).join("")}</div></section>`,
      );
    }
    const shift = data.shift
      ? `Turno: ${fmtRange(data.shift.start, data.shift.end)}`
      : "";
    main.innerHTML = `<div class="page-head"><h1>Planta</h1><p class="muted">${shift ? `${esc(shift)} · ` : ""}${total} máquinas${data.partial ? " · OEE e ordens: ainda não disponível" : ""}${anomalies ? "" : " · anomalias: ainda não disponível"}${risks ? "" : " · risco: ainda não disponível"}</p></div><ul class="legend" aria-label="Máquinas por estado">${summary(counts)}</ul>${total ? parts.join("") : notice("Nenhuma máquina conhecida ainda: elas aparecem quando enviam telemetria ou estão no cadastro (SH1).")}`;
    tiles = new Map();
    for (const element of main.querySelectorAll("a.machine")) tiles.set(element.dataset.machine, element);
    codes = [...tiles.keys()].sort(collator.compare).join("\n");
  }

  function recount() {
    const counts = {};
    for (const element of tiles.values()) counts[element.dataset.state] = (counts[element.dataset.state] || 0) + 1;
    const legend = main.querySelector(".legend");
    if (legend) legend.innerHTML = summary(counts);
  }

  function setState(element, state) {
    const key = stateKey(state);
    if (element.dataset.state === key) return false;
    element.dataset.state = key;
    element.querySelector(".state-label").textContent = STATE_LABELS[key];
    return true;
  }

  /** Updates the tiles from a fresh summary; rebuilds when the set of machines changed. */
  function update(data) {
    const fresh = [];
    for (const line of data.lines || []) for (const m of line.machines || []) fresh.push(m);
    const sortedCodes = fresh.map((m) => m.machine).sort(collator.compare).join("\n");
    if (sortedCodes !== codes) {
      draw(data);
      return;
    }
    let changed = false;
    for (const machine of fresh) {
      const element = tiles.get(machine.machine);
      changed = setState(element, stateOf(machine)) || changed;
      element.querySelector(".m-order").textContent = orderText(machine);
      element.querySelector("[data-oee]").outerHTML = oeeSpan(machine.oee);
      const anomalySlot = element.querySelector("[data-anomalies]");
      if (anomalySlot && anomalies) anomalySlot.outerHTML = anomalySpan(anomalies.get(machine.machine));
      const riskSlot = element.querySelector("[data-risk]");
      if (riskSlot && risks) riskSlot.outerHTML = riskSpan(risks.get(machine.machine));
    }
    if (changed) recount();
  }

  handlers["machine.state"] = (event) => {
    const at = Date.parse(event.ts);
    const told = eventStates.get(event.machine);
    if (told && !Number.isNaN(at) && at < told.at) return; // an older one arriving late
    if (!Number.isNaN(at) && at < summarySince.get(event.machine)) return; // the summary is newer
    eventStates.set(event.machine, { state: event.state, at: Number.isNaN(at) ? Date.now() : at });
    const element = tiles.get(event.machine);
    if (!element) {
      refresh();
      return;
    }
    if (setState(element, event.state)) {
      recount();
      if (event.state === "fault") announce(`Máquina ${event.machine} em falha.`);
    }
  };

  handlers.anomaly = (event) => {
    if (!anomalies) return;
    const ids = anomalies.get(event.machine) || new Set();
    if (event.status === "open") ids.add(String(event.id));
    else ids.delete(String(event.id));
    anomalies.set(event.machine, ids);
    const element = tiles.get(event.machine);
    const span = element && element.querySelector("[data-anomalies]");
    if (span) span.outerHTML = anomalySpan(ids);
  };

  handlers.risk = (event) => {
    if (!risks) return;
    const item = { ...(risks.get(event.machine) || {}), ...event };
    risks.set(event.machine, item);
    const element = tiles.get(event.machine);
    const span = element && element.querySelector("[data-risk]");
    if (span) span.outerHTML = riskSpan(item);
  };

  draw(plant);
  const early = pending;
  pending = null;
  for (const [type, event] of early) handlers[type](event);
  ctx.ready();

  async function refresh() {
    if (busy || !ctx.active()) return;
    busy = true;
    try {
      const [data, anomalyData, riskData] = await Promise.all([
        loadPlant({ signal }),
        anomalies ? optional("/api/v1/anomalies?status=open&page_size=500", signal) : null,
        risks ? optional("/api/v1/maintenance/risk?page_size=500", signal) : null,
      ]);
      if (!ctx.active()) return;
      if (anomalyData) anomalies = openAnomalies(anomalyData);
      if (riskData) risks = riskByMachine(riskData);
      update(data);
    } catch (error) {
      if (error && error.name !== "AbortError") console.warn("plant refresh", error);
    } finally {
      busy = false;
    }
  }

  ctx.onPoll(refresh);
  const timer = setInterval(refresh, REFRESH_MS);
  ctx.onLeave(() => clearInterval(timer));
}
