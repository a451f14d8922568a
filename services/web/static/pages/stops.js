// #/paradas: the stops waiting for a reason ([data-stop-id] rows with select[name=reason] from
// Protheus's reasons and [data-action=classify], PATCH /api/v1/stops/{id}), splitting a stop
// in two, and the downtime Pareto ([data-chart=pareto]). A classified stop stays in the list
// with its status followed (events + polling) until delivered or rejected.

import { api, url } from "../lib/api.js";
import {
  STOP_STATUS_LABELS,
  announce,
  duration,
  esc,
  failure,
  fmtTime,
  fromLocalInput,
  isoPlant,
  notice,
  pct,
  stateBadge,
  stateKey,
  STATE_LABELS,
  toLocalInput,
} from "../lib/ui.js";

const FINAL = new Set(["delivered", "rejected", "reversed"]);
const PAGE_SIZE = 50;
const POLL_MS = 3000;
const WINDOWS = {
  "24h": ["Últimas 24 horas", 24],
  "7d": ["Últimos 7 dias", 24 * 7],
  "30d": ["Últimos 30 dias", 24 * 30],
};
const BY = { reason: "Motivo", machine: "Máquina", state: "Estado" };

function reasonOptions(reasons) {
  return `<option value="">Escolha o motivo…</option>${reasons
    .filter((r) => r.description !== null)
    .map((r) => `<option value="${esc(r.code)}">${esc(r.code)} — ${esc(r.description || "")}</option>`)
    .join("")}`;
}

function stopRow(stop, options, canWrite) {
  const id = esc(stop.id);
  const when = `${fmtTime(stop.start)}${stop.end ? ` – ${fmtTime(stop.end, { date: false })}` : " (em curso)"}`;
  const controls = canWrite
    ? `<div class="stop-actions">
        <label class="sr-only" for="reason-${id}">Motivo da parada de ${esc(stop.machine)} em ${esc(when)}</label>
        <select id="reason-${id}" name="reason">${options}</select>
        <button type="button" class="primary" data-action="classify">Classificar</button>
        <button type="button" class="ghost" data-action="split" aria-expanded="false">Dividir</button>
      </div>
      <div class="split-box" hidden>
        <label>Dividir em <input type="datetime-local" name="splitAt" step="60" min="${toLocalInput(new Date(stop.start))}"${stop.end ? ` max="${toLocalInput(new Date(stop.end))}"` : ""}></label>
        <button type="button" data-action="split-confirm">Confirmar divisão</button>
        <button type="button" class="ghost" data-action="split-cancel">Cancelar</button>
      </div>`
    : "";
  return `<li class="stop card" data-stop-id="${id}" data-status="${esc(stop.status)}">
      <div class="stop-info">
        <a class="stop-machine" href="#/maquinas/${encodeURIComponent(stop.machine)}">${esc(stop.machine)}</a>
        ${stateBadge(stop.state)}
        <span>${esc(when)}</span>
        <span class="muted">${duration(stop.durationSeconds)}</span>
        ${stop.plcReason ? `<span class="muted">CLP: ${esc(stop.plcReason)}</span>` : ""}
      </div>
      ${controls}
      <p class="stop-status" data-stop-status role="status">${stop.status !== "unclassified" ? esc(STOP_STATUS_LABELS[stop.status] || stop.status) : ""}</p>
      <p class="field-error" data-error-for="stop" role="alert"></p>
    </li>`;
}

function paretoLabel(row, by) {
  if (by === "state") return STATE_LABELS[stateKey(row.key)] || row.key || "—";
  if (row.key === null || row.key === undefined) return "Sem motivo";
  return row.description ? `${row.key} — ${row.description}` : row.key;
}

function paretoChart(data, by) {
  const rows = data.rows || [];
  if (!rows.length) return notice("Nenhuma parada na janela.");
  const max = Math.max(...rows.map((r) => r.seconds || 0), 1);
  const body = rows
    .map(
      (row) =>
        `<tr><th scope="row">${esc(paretoLabel(row, by))}</th><td class="bar-cell"><span class="bar" style="width:${(((row.seconds || 0) / max) * 100).toFixed(2)}%"></span></td><td class="num">${duration(row.seconds)}</td><td class="num">${row.count}</td><td class="num">${pct(row.share, true)}</td><td class="num">${pct(row.cumulativeShare, true)}</td></tr>`,
    )
    .join("");
  return `<p class="muted">Total: ${duration(data.totalSeconds)} em ${data.totalCount} paradas.</p>
    <div class="table-wrap"><table class="pareto"><caption class="sr-only">Pareto do tempo parado por ${esc(BY[by].toLowerCase())}</caption><thead><tr><th>${esc(BY[by])}</th><th>Tempo parado</th><th class="num">Duração</th><th class="num">Paradas</th><th class="num">Parcela</th><th class="num">Acumulado</th></tr></thead><tbody>${body}</tbody></table></div>`;
}

export async function render(ctx) {
  const { main, signal } = ctx;
  const canWrite = ctx.allows("production:write");
  const windowKey = WINDOWS[ctx.query.janela] ? ctx.query.janela : "7d";
  const by = BY[ctx.query.por] ? ctx.query.por : "reason";
  // One machine's stops (an operator at their machine): #/paradas?maquina=CODE
  const machine = (ctx.query.maquina || "").trim();
  const listQuery = (extra = {}) => url("stops", { status: "unclassified", machine, page_size: PAGE_SIZE, ...extra });
  const hashFor = (changes) => {
    const params = new URLSearchParams({ janela: windowKey, por: by, maquina: machine, ...changes });
    for (const [name, value] of [...params]) if (!value) params.delete(name);
    return `#/paradas?${params}`;
  };

  const now = new Date();
  const paretoFrom = new Date(now.getTime() - WINDOWS[windowKey][1] * 3600000);
  const [stopsPage, reasons, pareto] = await Promise.all([
    api(listQuery(), { signal }).catch((error) => {
      if (error && (error.name === "AbortError" || error.status === 401 || !machine)) throw error;
      return { data: [], total: 0, totalPages: 1, error };
    }),
    api("/api/v1/stop-reasons", { signal }).catch((error) => {
      if (error && (error.name === "AbortError" || error.status === 401)) throw error;
      return { error };
    }),
    api(url("downtime/pareto", { from: isoPlant(paretoFrom), to: isoPlant(now), by, machine }), { signal }).catch(
      (error) => {
        if (error && (error.name === "AbortError" || error.status === 401)) throw error;
        return { error };
      },
    ),
  ]);
  if (!ctx.active()) return;

  const reasonList = Array.isArray(reasons) ? reasons : [];
  const options = reasonOptions(reasonList);
  const stops = stopsPage.data || [];

  main.innerHTML = `
    <div class="page-head"><h1>Paradas</h1></div>
    <section class="panel" aria-labelledby="stops-title">
      <h2 id="stops-title">Paradas sem motivo <span class="count" id="stops-count">(${stopsPage.total ?? stops.length})</span></h2>
      <form class="filters" id="stops-filter" role="search" aria-label="Filtrar paradas">
        <label>Máquina <input name="maquina" value="${esc(machine)}" autocomplete="off" placeholder="todas"></label>
        <button type="submit">Filtrar</button>
      </form>
      ${reasons.error ? notice(`Motivos do Protheus indisponíveis: ${failure(reasons.error)}`, "warning") : ""}
      ${canWrite ? "" : notice("Sua chave só permite consultar: classificar exige production:write.", "info")}
      <ul class="stops" id="stops-list">${stops.map((s) => stopRow(s, options, canWrite)).join("")}</ul>
      <div id="stops-empty">${stopsPage.error ? notice(failure(stopsPage.error), "warning") : stops.length ? "" : notice("Nenhuma parada aguardando motivo.")}</div>
      <p><button type="button" id="stops-more"${(stopsPage.totalPages || 1) > 1 ? "" : " hidden"}>Mostrar mais paradas</button></p>
    </section>
    <section class="panel" aria-labelledby="pareto-title">
      <h2 id="pareto-title">Pareto do tempo parado</h2>
      <form class="filters" id="pareto-filter" aria-label="Janela do Pareto">
        <label>Janela <select name="janela">${Object.entries(WINDOWS)
          .map(([key, [label]]) => `<option value="${key}"${key === windowKey ? " selected" : ""}>${label}</option>`)
          .join("")}</select></label>
        <label>Agrupar por <select name="por">${Object.entries(BY)
          .map(([key, label]) => `<option value="${key}"${key === by ? " selected" : ""}>${label}</option>`)
          .join("")}</select></label>
      </form>
      <div data-chart="pareto">${pareto.error ? notice(failure(pareto.error), "warning") : paretoChart(pareto, by)}</div>
    </section>`;

  const list = main.querySelector("#stops-list");
  const stopsFilter = main.querySelector("#stops-filter");
  stopsFilter.addEventListener("submit", (event) => {
    event.preventDefault();
    location.hash = hashFor({ maquina: stopsFilter.elements.maquina.value.trim() });
  });
  const more = main.querySelector("#stops-more");
  let loadedPage = 1;
  more.addEventListener("click", async () => {
    more.disabled = true;
    try {
      const page = await api(listQuery({ page: loadedPage + 1 }), { signal });
      loadedPage += 1;
      const known = new Set([...list.children].map((row) => row.dataset.stopId));
      const html = (page.data || []).filter((s) => !known.has(String(s.id))).map((s) => stopRow(s, options, canWrite)).join("");
      list.insertAdjacentHTML("beforeend", html);
      more.hidden = loadedPage >= (page.totalPages || 1);
    } catch (error) {
      if (error && error.name !== "AbortError") announce(failure(error));
    } finally {
      more.disabled = false;
    }
  });
  const paretoForm = main.querySelector("#pareto-filter");
  paretoForm.addEventListener("change", () => {
    location.hash = hashFor({ janela: paretoForm.elements.janela.value, por: paretoForm.elements.por.value });
  });

  // --- following classified stops ----------------------------------------------------------
  const followed = new Map(); // id -> timer

  function rowOf(id) {
    return list.querySelector(`[data-stop-id="${CSS.escape(String(id))}"]`);
  }

  function showStatus(row, stop) {
    row.dataset.status = stop.status;
    const reason = stop.reasonDescription || stop.reason;
    const text = `${STOP_STATUS_LABELS[stop.status] || stop.status}${reason ? ` · motivo ${reason}` : ""}${stop.status === "rejected" && stop.error ? ` · ${stop.error}` : ""}`;
    row.querySelector("[data-stop-status]").textContent = text;
  }

  async function pollStop(id) {
    const row = rowOf(id);
    if (!row || !ctx.active()) return;
    try {
      const stop = await api(`/api/v1/stops/${encodeURIComponent(id)}`, { signal });
      showStatus(row, stop);
      if (FINAL.has(stop.status)) {
        followed.delete(id);
        return;
      }
    } catch (error) {
      if (error && error.name === "AbortError") return;
    }
    followed.set(id, setTimeout(() => pollStop(id), POLL_MS));
  }
  ctx.onLeave(() => followed.forEach((timer) => clearTimeout(timer)));

  let total = stopsPage.total ?? stops.length;
  function countRows() {
    main.querySelector("#stops-count").textContent = `(${Math.max(0, total)})`;
    main.querySelector("#stops-empty").innerHTML = list.children.length ? "" : notice("Nenhuma parada aguardando motivo.");
  }

  async function classify(row) {
    const id = row.dataset.stopId;
    const select = row.querySelector("select[name=reason]");
    const error = row.querySelector('[data-error-for="stop"]');
    error.textContent = "";
    select.removeAttribute("aria-invalid");
    if (!select.value) {
      error.textContent = "Escolha o motivo da parada.";
      select.setAttribute("aria-invalid", "true");
      select.focus();
      return;
    }
    const buttons = row.querySelectorAll("button");
    buttons.forEach((b) => (b.disabled = true));
    try {
      const stop = await api(`/api/v1/stops/${encodeURIComponent(id)}`, {
        method: "PATCH",
        body: { reason: select.value },
        signal,
      });
      row.querySelector(".stop-actions").remove();
      row.querySelector(".split-box").remove();
      row.classList.add("classified");
      showStatus(row, stop);
      announce(`Parada de ${stop.machine} classificada.`);
      total -= 1;
      countRows();
      if (!FINAL.has(stop.status)) followed.set(id, setTimeout(() => pollStop(id), POLL_MS));
    } catch (failureError) {
      if (failureError && failureError.name === "AbortError") return;
      const details = (failureError.details || []).map((d) => d.message).filter(Boolean);
      error.textContent = [failureError.message, ...details].join(" ");
      select.setAttribute("aria-invalid", "true");
      buttons.forEach((b) => (b.disabled = false));
    }
  }

  async function split(row) {
    const id = row.dataset.stopId;
    const input = row.querySelector("input[name=splitAt]");
    const error = row.querySelector('[data-error-for="stop"]');
    error.textContent = "";
    let at;
    try {
      at = fromLocalInput(input.value);
    } catch (wallError) {
      error.textContent = wallError.message;
      input.focus();
      return;
    }
    if (!at) {
      error.textContent = "Informe o instante da divisão.";
      input.focus();
      return;
    }
    const buttons = row.querySelectorAll("button");
    buttons.forEach((b) => (b.disabled = true));
    try {
      await api(`/api/v1/stops/${encodeURIComponent(id)}`, { method: "PATCH", body: { splitAt: at }, signal });
      announce("Parada dividida em duas.");
      await reload(true);
    } catch (failureError) {
      if (failureError && failureError.name === "AbortError") return;
      const details = (failureError.details || []).map((d) => d.message).filter(Boolean);
      error.textContent = [failureError.message, ...details].join(" ");
      buttons.forEach((b) => (b.disabled = false));
    }
  }

  list.addEventListener("click", (event) => {
    const button = event.target.closest("button[data-action]");
    if (!button) return;
    const row = button.closest("[data-stop-id]");
    const box = row.querySelector(".split-box");
    switch (button.dataset.action) {
      case "classify":
        classify(row);
        break;
      case "split":
        box.hidden = !box.hidden;
        button.setAttribute("aria-expanded", String(!box.hidden));
        if (!box.hidden) box.querySelector("input").focus();
        break;
      case "split-cancel":
        box.hidden = true;
        row.querySelector('[data-action="split"]').setAttribute("aria-expanded", "false");
        break;
      case "split-confirm":
        split(row);
        break;
      default:
        break;
    }
  });

  /** Adds the stops that became unclassified (never redraws a row someone is editing);
   * `replace` redraws the unclassified rows (after a split changed their ends). */
  let reloading = false;
  async function reload(replace = false) {
    if (reloading || !ctx.active()) return;
    reloading = true;
    try {
      const page = await api(listQuery(), { signal });
      if (!ctx.active()) return;
      const fresh = page.data || [];
      if (replace) {
        for (const row of [...list.querySelectorAll('[data-status="unclassified"]')]) row.remove();
      }
      const known = new Set([...list.children].map((row) => row.dataset.stopId));
      const html = fresh.filter((s) => !known.has(String(s.id))).map((s) => stopRow(s, options, canWrite)).join("");
      if (html) list.insertAdjacentHTML("afterbegin", html);
      if (typeof page.total === "number") total = page.total;
      countRows();
    } catch (error) {
      if (error && error.name !== "AbortError") console.warn("stops reload", error);
    } finally {
      reloading = false;
    }
  }

  let reloadTimer = 0;
  ctx.onEvent("stop.status", (event) => {
    const row = rowOf(event.id);
    if (row && row.dataset.status !== "unclassified") {
      showStatus(row, { status: event.status, reason: event.reason });
      if (FINAL.has(event.status)) {
        clearTimeout(followed.get(String(event.id)));
        followed.delete(String(event.id));
      }
    } else if (!row && event.status === "unclassified") {
      clearTimeout(reloadTimer);
      reloadTimer = setTimeout(() => reload(false), 300);
    }
  });
  ctx.onPoll(() => reload(false));
  ctx.onLeave(() => clearTimeout(reloadTimer));
  ctx.ready();
}
