// #/manutencao: machines ranked by failure risk ([data-risk-machine] rows with the top
// contributing features) and the anomaly list ([data-anomaly-id] rows, open first). Both come
// from the predictive-maintenance routes; until they exist the page says "ainda não disponível".

import { api, url } from "../lib/api.js";
import { ANOMALY_KIND_LABELS, esc, failure, fmtTime, notice, num, pct } from "../lib/ui.js";

async function optional(path, signal) {
  try {
    return { data: await api(path, { signal }) };
  } catch (error) {
    if (error && (error.name === "AbortError" || error.status === 401)) throw error;
    return { error };
  }
}

function unavailable(what, error) {
  return error.status === 404
    ? notice(`${what}: ainda não disponível.`, "info")
    : notice(`${what}: ${failure(error)}`, "warning");
}

function riskTable(page) {
  const items = page.data || [];
  if (!items.length) return notice("Nenhuma máquina pontuada ainda (o modelo de risco ainda não foi treinado?).");
  const rows = items
    .map((item, index) => {
      const risk = typeof item.risk === "number" ? item.risk : null;
      const features = (item.topFeatures || [])
        .slice(0, 3)
        .map((f) => `${esc(f.feature)} = ${num(f.value)}`)
        .join("; ");
      return `<tr data-risk-machine="${esc(item.machine)}" data-risk="${risk ?? ""}"${item.alert ? ' class="alert"' : ""}><td class="num">${index + 1 + ((page.page || 1) - 1) * (page.pageSize || items.length)}</td><td><a href="#/maquinas/${encodeURIComponent(item.machine)}">${esc(item.machine)}</a></td><td><meter min="0" max="1" low="0.4" high="${item.threshold ?? 0.7}" optimum="0" value="${risk ?? 0}" aria-label="Risco ${pct(risk)}"></meter> <strong>${pct(risk)}</strong>${item.alert ? ' <span class="tag danger">alerta</span>' : ""}</td><td>${item.horizonH ? `${item.horizonH} h` : "—"}</td><td>${features || "—"}</td><td>${fmtTime(item.scoredAt)}</td></tr>`;
    })
    .join("");
  return `<div class="table-wrap"><table><caption class="sr-only">Máquinas por risco de falha</caption><thead><tr><th class="num">#</th><th>Máquina</th><th>Risco de falha</th><th>Horizonte</th><th>Principais fatores</th><th>Calculado</th></tr></thead><tbody>${rows}</tbody></table></div>`;
}

function anomalyTable(page) {
  const items = page.data || [];
  if (!items.length) return notice("Nenhuma anomalia com estes filtros.");
  const rows = items
    .map(
      (a) =>
        `<tr data-anomaly-id="${esc(a.id)}" data-status="${esc(a.status)}"><td><a href="#/maquinas/${encodeURIComponent(a.machine)}">${esc(a.machine)}</a></td><td>${esc(ANOMALY_KIND_LABELS[a.kind] || a.kind)}</td><td>${esc((a.metrics || []).join(", "))}</td><td>${fmtTime(a.start)}</td><td>${a.end ? fmtTime(a.end) : "—"}</td><td><span class="tag${a.status === "open" ? " danger" : ""}">${a.status === "open" ? "aberta" : "encerrada"}</span></td><td class="num">${num(a.score)}</td></tr>`,
    )
    .join("");
  return `<div class="table-wrap"><table><caption class="sr-only">Anomalias</caption><thead><tr><th>Máquina</th><th>Tipo</th><th>Métricas</th><th>Início</th><th>Fim</th><th>Situação</th><th class="num">Escore</th></tr></thead><tbody>${rows}</tbody></table></div>`;
}

export async function render(ctx) {
  const { main, signal } = ctx;
  const status = ["open", "closed"].includes(ctx.query.status) ? ctx.query.status : "";

  const load = () =>
    Promise.all([
      optional(url("maintenance/risk", { page_size: 100 }), signal),
      optional(url("anomalies", { status, page_size: 100 }), signal),
    ]);
  const [risk, anomalies] = await load();
  if (!ctx.active()) return;

  main.innerHTML = `
    <div class="page-head"><h1>Manutenção</h1></div>
    <section class="panel" aria-labelledby="risk-title"><h2 id="risk-title">Risco de falha</h2><div id="risk-list">${risk.error ? unavailable("Risco de falha", risk.error) : riskTable(risk.data)}</div></section>
    <section class="panel" aria-labelledby="anomaly-title"><h2 id="anomaly-title">Anomalias</h2>
      <form class="filters" id="anomaly-filter" aria-label="Filtrar anomalias"><label>Situação
        <select name="status"><option value="">Todas</option><option value="open"${status === "open" ? " selected" : ""}>Abertas</option><option value="closed"${status === "closed" ? " selected" : ""}>Encerradas</option></select></label></form>
      <div id="anomaly-list">${anomalies.error ? unavailable("Anomalias", anomalies.error) : anomalyTable(anomalies.data)}</div></section>`;

  const filter = main.querySelector("#anomaly-filter");
  filter.addEventListener("change", () => {
    const value = filter.elements.status.value;
    location.hash = value ? `#/manutencao?status=${value}` : "#/manutencao";
  });
  filter.addEventListener("submit", (event) => event.preventDefault());

  let timer = 0;
  const refresh = () => {
    clearTimeout(timer);
    timer = setTimeout(async () => {
      const [r, a] = await load().catch(() => [null, null]);
      if (!ctx.active() || !r) return;
      if (!r.error) main.querySelector("#risk-list").innerHTML = riskTable(r.data);
      if (!a.error) main.querySelector("#anomaly-list").innerHTML = anomalyTable(a.data);
    }, 500);
  };
  ctx.onLeave(() => clearTimeout(timer));
  ctx.onEvent("anomaly", refresh);
  ctx.onEvent("risk", refresh);
  ctx.onPoll(refresh);
  ctx.ready();
}
