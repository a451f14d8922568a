// #/maquinas/{code}: the machine's shift — state timeline, metric charts (bucketed by the API
// so the shift is a few hundred points), good and scrap counters, the current order's
// operations, its stops and its anomalies. Live `machine.state` events move the state.

import { api, url } from "../lib/api.js";
import { autoResize, chartWidth, loadUPlot, plantTz } from "../lib/chart.js";
import { cachedMachine, loadPlant, shiftWindow } from "../lib/plant.js";
import {
  ANOMALY_KIND_LABELS,
  STATES,
  STATE_LABELS,
  STOP_STATUS_LABELS,
  duration,
  esc,
  failure,
  fmtRange,
  fmtTime,
  isoPlant,
  notice,
  num,
  oeeClass,
  pct,
  plantOffset,
  stateBadge,
  stateKey,
} from "../lib/ui.js";

const MAX_METRICS = 8;
const BUCKETS = [
  ["1m", 60],
  ["15m", 900],
  ["1h", 3600],
  ["1d", 86400],
];

/** The smallest bucket that keeps the window within `maxPoints` points. */
function bucketFor(seconds, maxPoints) {
  for (const [name, size] of BUCKETS) if (seconds / size <= maxPoints) return [name, size];
  return BUCKETS[BUCKETS.length - 1];
}

async function optional(path, signal) {
  try {
    return { data: await api(path, { signal }) };
  } catch (error) {
    if (error && (error.name === "AbortError" || error.status === 401)) throw error;
    return { error };
  }
}

function section(id, title, body, extra = "") {
  return `<section class="panel" aria-labelledby="${id}-title" ${extra}><h2 id="${id}-title">${esc(title)}</h2><div id="${id}">${body}</div></section>`;
}

function oeeBlock(oee) {
  if (!oee) return notice("Sem OEE para este turno.");
  const cell = (label, value, cls = "") =>
    `<div class="kpi"><span class="kpi-label">${label}</span><span class="kpi-value ${cls}">${pct(value)}</span></div>`;
  const value = typeof oee.oee === "number" ? oee.oee : null;
  return `<div class="kpis">${cell("OEE", value, oeeClass(value))}${cell("Disponibilidade", oee.availability)}${cell("Desempenho", oee.performance)}${cell("Qualidade", oee.quality)}</div>`;
}

function timeline(intervals, start, end) {
  const from = start.getTime();
  const span = Math.max(1, end.getTime() - from);
  const totals = {};
  const segments = [];
  for (const interval of intervals) {
    const s = Math.max(from, Date.parse(interval.start));
    const e = Math.min(end.getTime(), Date.parse(interval.end));
    if (!(e > s)) continue;
    const state = stateKey(interval.state);
    totals[state] = (totals[state] || 0) + (e - s) / 1000;
    const left = ((s - from) / span) * 100;
    const width = ((e - s) / span) * 100;
    const reason = interval.reason ? ` — ${interval.reason}` : "";
    segments.push(
      `<span class="seg" data-state="${state}" style="left:${left.toFixed(3)}%;width:${width.toFixed(3)}%" title="${esc(`${STATE_LABELS[state]}${reason}: ${fmtTime(interval.start, { date: false })}–${fmtTime(interval.end, { date: false })} (${duration((e - s) / 1000)})`)}"></span>`,
    );
  }
  const legend = STATES.concat("unknown")
    .filter((state) => totals[state])
    .map(
      (state) =>
        `<li class="state-badge" data-state="${state}"><span class="dot" aria-hidden="true"></span>${STATE_LABELS[state]}: ${duration(totals[state])}</li>`,
    )
    .join("");
  const rows = intervals
    .map(
      (i) =>
        `<tr><td>${fmtTime(i.start, { date: false })}</td><td>${fmtTime(i.end, { date: false })}</td><td>${stateBadge(i.state)}</td><td>${esc(i.reason || "")}</td></tr>`,
    )
    .join("");
  const now = Date.now();
  const nowMark =
    now > from && now < end.getTime()
      ? `<span class="now" style="left:${(((now - from) / span) * 100).toFixed(3)}%" title="Agora"></span>`
      : "";
  const ticks = [0, 0.25, 0.5, 0.75, 1]
    .map((f) => `<span style="left:${f * 100}%">${fmtTime(new Date(from + f * span), { date: false })}</span>`)
    .join("");
  return `<div class="timeline" role="img" aria-label="Linha do tempo dos estados no turno">${segments.join("")}${nowMark}</div>
    <div class="timeline-axis" aria-hidden="true">${ticks}</div>
    <ul class="legend">${legend || "<li>Sem estados registrados no turno.</li>"}</ul>
    ${intervals.length ? `<details><summary>Intervalos (${intervals.length})</summary><div class="table-wrap"><table><thead><tr><th>Início</th><th>Fim</th><th>Estado</th><th>Motivo</th></tr></thead><tbody>${rows}</tbody></table></div></details>` : ""}`;
}

function operationsBlock(order, machine, canWrite) {
  const quantity = Number(order.C2_QUANT) || 0;
  const rows = (order.operations || [])
    .map((op) => {
      const done = Number(op.goodQuantity) || 0;
      const share = quantity > 0 ? Math.min(1, done / quantity) : 0;
      const here = op.machine === machine ? ' class="here"' : "";
      return `<tr${here}><td>${esc(op.operation)}</td><td>${esc(op.description || "")}</td><td>${esc(op.machine || "")}</td><td class="num">${num(done)} / ${num(quantity)}</td><td class="num">${num(op.scrapQuantity)}</td><td><progress max="1" value="${share}" aria-label="Progresso da operação ${esc(op.operation)}: ${pct(share)}"></progress> ${pct(share)}</td></tr>`;
    })
    .join("");
  return `<p><a href="#/ordens/${encodeURIComponent(order.order)}">Ordem ${esc(order.order)}</a> · produto ${esc(order.C2_PRODUTO || "")} · ${num(order.C2_QUJE)} de ${num(quantity)} ${esc(order.C2_UM || "")}${canWrite ? ` · <a class="button" href="#/ordens/${encodeURIComponent(order.order)}">Apontar produção</a>` : ""}</p>
    <div class="table-wrap"><table><thead><tr><th>Operação</th><th>Descrição</th><th>Máquina</th><th class="num">Boas</th><th class="num">Refugo</th><th>Progresso</th></tr></thead><tbody>${rows || '<tr><td colspan="6">Roteiro sem operações.</td></tr>'}</tbody></table></div>`;
}

function stopsBlock(stops, code) {
  if (!stops.length) return notice("Nenhuma parada no turno.");
  const rows = stops
    .map(
      (stop) =>
        `<tr><td>${fmtTime(stop.start, { date: false })}</td><td>${stop.end ? fmtTime(stop.end, { date: false }) : "em curso"}</td><td class="num">${duration(stop.durationSeconds)}</td><td>${stateBadge(stop.state)}</td><td>${esc(stop.reasonDescription || stop.reason || stop.plcReason || "—")}</td><td>${esc(STOP_STATUS_LABELS[stop.status] || stop.status)}</td></tr>`,
    )
    .join("");
  return `<div class="table-wrap"><table><thead><tr><th>Início</th><th>Fim</th><th class="num">Duração</th><th>Estado</th><th>Motivo</th><th>Situação</th></tr></thead><tbody>${rows}</tbody></table></div><p><a href="#/paradas?maquina=${encodeURIComponent(code)}">Classificar as paradas desta máquina</a></p>`;
}

function anomaliesBlock(result) {
  if (result.error) {
    return result.error.status === 404
      ? notice("Anomalias: ainda não disponível.")
      : notice(failure(result.error), "warning");
  }
  const items = (result.data && result.data.data) || [];
  if (!items.length) return notice("Nenhuma anomalia registrada.");
  return `<ul class="list">${items
    .map(
      (a) =>
        `<li data-anomaly-id="${esc(a.id)}" data-status="${esc(a.status)}"><strong>${esc(ANOMALY_KIND_LABELS[a.kind] || a.kind)}</strong> em ${esc((a.metrics || []).join(", "))} · ${fmtTime(a.start)}${a.end ? ` – ${fmtTime(a.end, { date: false })}` : " · <em>aberta</em>"}</li>`,
    )
    .join("")}</ul>`;
}

export async function render(ctx) {
  const { main, signal } = ctx;
  const code = ctx.params.machine;
  const path = `/api/v1/machines/${encodeURIComponent(code)}`;
  const canProduction = ctx.allows("production:read");

  const plant = await loadPlant({ signal, maxAgeMs: 60000 }).catch((error) => {
    if (error && (error.name === "AbortError" || error.status === 401)) throw error;
    return null;
  });
  const summary = plant ? cachedMachine(code) : null;
  const shift = shiftWindow(plant && plant.shift);
  const start = shift.start;
  const end = shift.end;
  const spanS = (end - start) / 1000;
  const [bucket] = bucketFor(spanS, 600);
  const [counterBucket] = bucketFor(spanS, 48);
  const from = isoPlant(start);
  const to = isoPlant(end);

  const [latest, states, counters, stops, anomalies] = await Promise.all([
    optional(`${path}/latest`, signal),
    optional(url(`machines/${encodeURIComponent(code)}/states`, { from, to }), signal),
    optional(url(`machines/${encodeURIComponent(code)}/counters`, { from, to, bucket: counterBucket }), signal),
    canProduction
      ? optional(url("stops", { machine: code, from, page_size: 100 }), signal)
      : Promise.resolve(null),
    optional(url(`machines/${encodeURIComponent(code)}/anomalies`, { page_size: 20 }), signal),
  ]);
  if (!ctx.active()) return;
  if (latest.error && latest.error.status === 404) {
    main.innerHTML = `<h1>Máquina ${esc(code)}</h1>${notice("Máquina não encontrada.", "error")}<p><a href="#/planta">Voltar à planta</a></p>`;
    ctx.ready();
    return;
  }
  if (latest.error) throw latest.error;
  const info = latest.data;
  const state = info.state;

  const orderKey = summary && summary.order;
  const orderResult =
    orderKey && canProduction
      ? await optional(`/api/v1/production-orders/${encodeURIComponent(orderKey)}`, signal)
      : null;
  if (!ctx.active()) return;

  const metrics = (info.metrics || []).slice(0, MAX_METRICS);
  const lineText = [info.site, info.area, info.line].filter(Boolean).join(" / ");

  main.innerHTML = `
    <div class="page-head">
      <p class="crumbs"><a href="#/planta">Planta</a> › ${esc(lineText || "sem linha")}</p>
      <h1>Máquina ${esc(code)} <span class="muted">${esc((summary && summary.description) || "")}</span></h1>
      <p class="status-line" data-machine-state="${stateKey(state)}" aria-live="polite">
        <span id="machine-state">${stateBadge(state)}</span>
        <span id="machine-since">${info.stateSince ? `desde ${fmtTime(info.stateSince)}` : ""}${info.stateReason ? ` · ${esc(info.stateReason)}` : ""}</span>
        <span class="muted">· última mensagem ${fmtTime(info.lastSeen)}</span>
      </p>
      <p class="muted">${esc(shift.label)}: ${fmtRange(start, end)}</p>
    </div>
    <div class="grid-2">
      ${section("machine-oee", "OEE do turno", oeeBlock(summary && summary.oee))}
      ${section("machine-counters", "Contadores", '<div data-chart="counters"></div>')}
    </div>
    ${section("machine-timeline", "Estados no turno", states.error ? notice(failure(states.error), "warning") : timeline(states.data.intervals || [], start, end))}
    ${section("machine-metrics", "Métricas", metrics.length ? `<p class="muted">Média por ${esc(bucket)} com mínimo e máximo.</p><div class="charts">${metrics.map((m) => `<figure class="chart" data-chart="metric" data-metric="${esc(m.metric)}"><figcaption>${esc(m.metric)} <span class="muted">último: ${num(m.value)}</span></figcaption><div class="plot"></div></figure>`).join("")}</div>` : notice("A máquina ainda não enviou métricas."))}
    ${canProduction ? section("machine-order", "Ordem atual", orderResult ? (orderResult.error ? notice(failure(orderResult.error), "warning") : operationsBlock(orderResult.data, code, ctx.allows("production:write"))) : notice("Nenhuma ordem em andamento conhecida.")) : ""}
    ${canProduction ? section("machine-stops", "Paradas no turno", stops && stops.error ? notice(failure(stops.error), "warning") : stopsBlock((stops && stops.data && stops.data.data) || [], code)) : ""}
    ${section("machine-anomalies", "Anomalias", anomaliesBlock(anomalies))}`;

  // Charts: uPlot loads once, the series in parallel.
  const charts = [];
  try {
    const [uPlot, ...series] = await Promise.all([
      loadUPlot(),
      ...metrics.map((m) =>
        optional(url(`machines/${encodeURIComponent(code)}/telemetry`, { metric: m.metric, from, to, bucket, agg: "avg,min,max" }), signal),
      ),
    ]);
    if (!ctx.active()) return;
    const tzDate = plantTz(plantOffset(start));
    // The time axis and legend in the plant's 24-hour clock.
    const timeAxis = { values: (u, splits) => splits.map((ts) => fmtTime(new Date(ts * 1000), { date: false })) };
    const timeValue = (u, ts) => (ts === null || ts === undefined ? "--" : fmtTime(new Date(ts * 1000)));
    metrics.forEach((metric, index) => {
      const element = main.querySelector(`[data-chart="metric"][data-metric="${CSS.escape(metric.metric)}"] .plot`);
      const result = series[index];
      if (result.error) {
        element.innerHTML = notice(failure(result.error), "warning");
        return;
      }
      const points = result.data.points || [];
      if (!points.length) {
        element.innerHTML = notice("Sem pontos no turno.");
        return;
      }
      const xs = points.map((p) => Date.parse(p.bucket || p.ts) / 1000);
      const data = [xs, points.map((p) => p.avg ?? p.value ?? null), points.map((p) => p.min ?? null), points.map((p) => p.max ?? null)];
      const height = 170;
      const plot = new uPlot(
        {
          width: chartWidth(element),
          height,
          tzDate,
          scales: { x: { time: true, min: start / 1000, max: end / 1000 } },
          axes: [{ ...timeAxis }, {}],
          legend: { live: true },
          series: [
            { label: "Hora", value: timeValue },
            { label: "média", stroke: "#1d5fbf", width: 2 },
            { label: "mín", stroke: "#8a96a3", width: 1, dash: [4, 4] },
            { label: "máx", stroke: "#c2410c", width: 1, dash: [4, 4] },
          ],
        },
        data,
        element,
      );
      charts.push({ plot, element, height });
    });
    const counterElement = main.querySelector('[data-chart="counters"]');
    if (counters.error) {
      counterElement.innerHTML = notice(failure(counters.error), "warning");
    } else {
      const buckets = counters.data.buckets || [];
      const good = buckets.reduce((sum, b) => sum + (b.good || 0), 0);
      const scrap = buckets.reduce((sum, b) => sum + (b.scrap || 0), 0);
      counterElement.innerHTML = `<div class="kpis"><div class="kpi"><span class="kpi-label">Boas</span><span class="kpi-value">${num(good)}</span></div><div class="kpi"><span class="kpi-label">Refugo</span><span class="kpi-value">${num(scrap)}</span></div></div><div class="plot"></div>`;
      if (buckets.length) {
        const element = counterElement.querySelector(".plot");
        const height = 140;
        const bars = uPlot.paths && uPlot.paths.bars ? uPlot.paths.bars({ size: [0.7, 60] }) : undefined;
        const plot = new uPlot(
          {
            width: chartWidth(element),
            height,
            tzDate,
            scales: { x: { time: true } },
            axes: [{ ...timeAxis }, {}],
            series: [
              { label: `Hora (por ${counterBucket})`, value: timeValue },
              { label: "boas", stroke: "#15803d", fill: "rgba(21,128,61,0.35)", paths: bars },
              { label: "refugo", stroke: "#b91c1c", fill: "rgba(185,28,28,0.45)", paths: bars },
            ],
          },
          [buckets.map((b) => Date.parse(b.bucket) / 1000), buckets.map((b) => b.good), buckets.map((b) => b.scrap)],
          element,
        );
        charts.push({ plot, element, height });
      }
    }
  } catch (error) {
    if (error && error.name === "AbortError") return;
    for (const element of main.querySelectorAll("[data-chart] .plot:empty")) {
      element.innerHTML = notice(failure(error), "warning");
    }
  }
  ctx.onLeave(autoResize(charts));
  ctx.onLeave(() => charts.forEach(({ plot }) => plot.destroy()));
  ctx.ready();

  // Live: the state line follows the stream; the timeline is asked again (debounced).
  let timer = 0;
  const refreshTimeline = () => {
    clearTimeout(timer);
    timer = setTimeout(async () => {
      const result = await optional(url(`machines/${encodeURIComponent(code)}/states`, { from, to }), signal).catch(() => null);
      if (!result || result.error || !ctx.active()) return;
      document.getElementById("machine-timeline").innerHTML = timeline(result.data.intervals || [], start, end);
    }, 300);
  };
  ctx.onLeave(() => clearTimeout(timer));

  const showState = (value, since, reason) => {
    const line = main.querySelector("[data-machine-state]");
    if (!line) return;
    line.dataset.machineState = stateKey(value);
    document.getElementById("machine-state").innerHTML = stateBadge(value);
    document.getElementById("machine-since").textContent = `${since ? `desde ${fmtTime(since)}` : ""}${reason ? ` · ${reason}` : ""}`;
  };

  ctx.onEvent("machine.state", (event) => {
    if (event.machine !== code) return;
    showState(event.state, event.ts, event.reason);
    refreshTimeline();
  });
  ctx.onPoll(async () => {
    const result = await optional(`${path}/latest`, signal).catch(() => null);
    if (!result || result.error || !ctx.active()) return;
    showState(result.data.state, result.data.stateSince, result.data.stateReason);
    refreshTimeline();
  });
}
