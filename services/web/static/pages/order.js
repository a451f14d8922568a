// #/ordens/{order}: the order with its operations' progress, its recent reports and the
// operator's report form (#report-form, fields named as the API body). One Idempotency-Key per
// submission, reused when the same submission is sent again (a retry after a network failure,
// a double tap); the button is disabled while sending. API errors are shown at the field
// ([data-error-for=<field>]) or for the form. After the 202 the status line
// [data-report-id][data-status] follows the report (events + polling) to delivered or
// rejected; a rejected one shows Protheus's message and "Corrigir" (PATCH, same id).

import { api, url } from "../lib/api.js";
import {
  ORDER_STATUS_LABELS,
  REPORT_STATUS_LABELS,
  announce,
  esc,
  fmtDay,
  fmtTime,
  fromLocalInput,
  notice,
  num,
  pct,
  toLocalInput,
  WallTimeError,
} from "../lib/ui.js";
import { loadPlant } from "../lib/plant.js";

const FIELDS = [
  "order",
  "operation",
  "machine",
  "operator",
  "start",
  "end",
  "goodQuantity",
  "scrapQuantity",
  "scrapReason",
  "final",
];
const FINAL = new Set(["delivered", "rejected", "reversed"]);
const POLL_MS = 2000;
const OPERATOR_KEY = "mes.operator";

/** A v4 UUID: crypto.randomUUID where the page is a secure context, else from random bytes
 * (a tablet on plain http inside the plant). */
export function uuid() {
  if (crypto.randomUUID) return crypto.randomUUID();
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  bytes[6] = (bytes[6] & 0x0f) | 0x40;
  bytes[8] = (bytes[8] & 0x3f) | 0x80;
  const hex = [...bytes].map((b) => b.toString(16).padStart(2, "0")).join("");
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

function field(name, label, control, help = "") {
  return `<div class="field field-${name}">
      <label for="f-${name}">${label}</label>
      ${control}
      ${help ? `<p class="help" id="help-${name}">${help}</p>` : ""}
      <p class="field-error" id="err-${name}" data-error-for="${name}"></p>
    </div>`;
}

function describedBy(name, help = false) {
  return `aria-describedby="${help ? `help-${name} ` : ""}err-${name}"`;
}

function operationsTable(order) {
  const quantity = Number(order.C2_QUANT) || 0;
  const rows = (order.operations || [])
    .map((op) => {
      const done = Number(op.goodQuantity) || 0;
      const share = quantity > 0 ? Math.min(1, done / quantity) : 0;
      return `<tr data-operation="${esc(op.operation)}"><td>${esc(op.operation)}</td><td>${esc(op.description || "")}</td><td><a href="#/maquinas/${encodeURIComponent(op.machine || "")}">${esc(op.machine || "")}</a></td><td class="num">${num(done)} / ${num(quantity)}</td><td class="num">${num(op.scrapQuantity)}</td><td><progress max="1" value="${share}" aria-label="Progresso da operação ${esc(op.operation)}: ${pct(share)}"></progress> ${pct(share)}</td></tr>`;
    })
    .join("");
  return `<div class="table-wrap"><table><caption class="sr-only">Operações do roteiro</caption><thead><tr><th>Operação</th><th>Descrição</th><th>Máquina</th><th class="num">Boas</th><th class="num">Refugo</th><th>Progresso</th></tr></thead><tbody>${rows || '<tr><td colspan="6">Roteiro sem operações.</td></tr>'}</tbody></table></div>`;
}

function reportsTable(reports, canWrite = false) {
  if (!reports.length) return notice("Nenhum apontamento pelo MES para esta ordem.");
  const rows = reports
    .map(
      (r) =>
        `<tr data-report-row="${esc(r.id)}" data-status="${esc(r.status)}"><td>${fmtTime(r.createdAt)}</td><td>${esc(r.operation)}</td><td>${esc(r.machine)}</td><td>${esc(r.operator)}</td><td class="num">${num(r.goodQuantity)}</td><td class="num">${num(r.scrapQuantity)}</td><td><span class="tag" data-report-status="${esc(r.status)}">${esc(REPORT_STATUS_LABELS[r.status] || r.status)}</span>${r.error ? `<br><small>${esc(r.error)}</small>` : ""}${canWrite && r.status === "rejected" ? ` <button type="button" data-action="correct-row" aria-label="Corrigir o apontamento ${esc(String(r.id).slice(0, 8))}">Corrigir</button>` : ""}</td></tr>`,
    )
    .join("");
  return `<div class="table-wrap"><table><caption class="sr-only">Apontamentos recentes</caption><thead><tr><th>Recebido</th><th>Operação</th><th>Máquina</th><th>Operador</th><th class="num">Boas</th><th class="num">Refugo</th><th>Situação</th></tr></thead><tbody>${rows}</tbody></table></div>`;
}

function defaultOperation(order, wanted) {
  const ops = order.operations || [];
  if (wanted && ops.some((op) => op.operation === wanted)) return wanted;
  const quantity = Number(order.C2_QUANT) || 0;
  const open = ops.find((op) => (Number(op.goodQuantity) || 0) < quantity);
  return (open || ops[0] || {}).operation || "";
}

function formHtml(order, chosen) {
  const ops = order.operations || [];
  const options = ops
    .map(
      (op) =>
        `<option value="${esc(op.operation)}" data-machine="${esc(op.machine || "")}"${op.operation === chosen ? " selected" : ""}>${esc(op.operation)} — ${esc(op.description || "")}${op.machine ? ` (${esc(op.machine)})` : ""}</option>`,
    )
    .join("");
  const now = new Date();
  const operator = sessionStorage.getItem(OPERATOR_KEY) || "";
  return `<form id="report-form" class="card report-form" novalidate>
      <h3 id="report-form-title">Novo apontamento</h3>
      <p class="field-error form-error" data-error-for="form" role="alert"></p>
      <div class="form-grid">
        ${field("order", "Ordem", `<input id="f-order" name="order" value="${esc(order.order)}" readonly ${describedBy("order")}>`)}
        ${field("operation", "Operação", `<select id="f-operation" name="operation" required ${describedBy("operation")}>${options}</select>`)}
        ${field("machine", "Máquina", `<input id="f-machine" name="machine" required autocomplete="off" ${describedBy("machine", true)}>`, "Preenchida pela operação; troque se usou um recurso alternativo.")}
        ${field("operator", "Operador", `<input id="f-operator" name="operator" required autocomplete="off" value="${esc(operator)}" ${describedBy("operator")}>`)}
        ${field("start", "Início", `<input id="f-start" name="start" type="datetime-local" required value="${toLocalInput(new Date(now.getTime() - 3600000))}" ${describedBy("start", true)}>`, "Hora da planta.")}
        ${field("end", "Fim", `<input id="f-end" name="end" type="datetime-local" required value="${toLocalInput(now)}" ${describedBy("end", true)}>`, "Hora da planta.")}
        ${field("goodQuantity", "Quantidade boa", `<input id="f-goodQuantity" name="goodQuantity" type="number" inputmode="decimal" min="0" step="any" required ${describedBy("goodQuantity")}>`)}
        ${field("scrapQuantity", "Refugo", `<input id="f-scrapQuantity" name="scrapQuantity" type="number" inputmode="decimal" min="0" step="any" value="0" ${describedBy("scrapQuantity")}>`)}
        ${field("scrapReason", "Motivo do refugo", `<input id="f-scrapReason" name="scrapReason" autocomplete="off" maxlength="200" ${describedBy("scrapReason")}>`)}
        <div class="field field-final">
          <label class="check"><input id="f-final" name="final" type="checkbox" ${describedBy("final", true)}> Apontamento final</label>
          <p class="help" id="help-final">Marque quando a operação termina (encerra a operação no Protheus).</p>
          <p class="field-error" id="err-final" data-error-for="final"></p>
        </div>
      </div>
      <div class="actions">
        <button type="submit" class="primary" id="report-submit">Enviar apontamento</button>
        <button type="button" class="ghost" id="report-cancel" hidden>Cancelar correção</button>
      </div>
    </form>`;
}

export async function render(ctx) {
  const { main, signal } = ctx;
  const key = ctx.params.order;
  const canWrite = ctx.allows("production:write");

  // The plant's offset (report times are sent in the plant's clock) comes with the plant
  // summary; without telemetry:read the tablet's own offset is used.
  const [order, reportsPage] = await Promise.all([
    api(`/api/v1/production-orders/${encodeURIComponent(key)}`, { signal }).catch((error) => {
      if (error && error.status === 404) return null;
      throw error;
    }),
    api(url("production-reports", { order: key, page_size: 20 }), { signal }).catch((error) => {
      if (error && (error.name === "AbortError" || error.status === 401)) throw error;
      return null;
    }),
    canWrite && ctx.allows("telemetry:read")
      ? loadPlant({ signal, maxAgeMs: 3600000 }).catch(() => null)
      : null,
  ]);
  if (!ctx.active()) return;
  if (!order) {
    main.innerHTML = `<h1>Ordem ${esc(key)}</h1>${notice("Ordem não encontrada.", "error")}<p><a href="#/ordens">Voltar às ordens</a></p>`;
    ctx.ready();
    return;
  }

  const chosen = defaultOperation(order, ctx.query.operation);
  const open = ["open", "started", "idle"].includes(order.status) && order.situation === "normal";
  main.innerHTML = `
    <div class="page-head">
      <p class="crumbs"><a href="#/ordens">Ordens</a> › ${esc(order.order)}</p>
      <h1>Ordem ${esc(order.order)}</h1>
      <p><span class="tag" data-order-status="${esc(order.status)}">${esc(ORDER_STATUS_LABELS[order.status] || order.status)}</span>
        · produto <strong>${esc(order.C2_PRODUTO || "")}</strong>
        · ${num(order.C2_QUJE)} de ${num(order.C2_QUANT)} ${esc(order.C2_UM || "")} (perda ${num(order.C2_PERDA)})
        · previsto ${fmtDay(order.C2_DATPRI)} a ${fmtDay(order.C2_DATPRF)}</p>
    </div>
    <section class="panel" aria-labelledby="ops-title"><h2 id="ops-title">Operações</h2><div id="order-operations">${operationsTable(order)}</div></section>
    ${
      canWrite
        ? `<section class="panel" aria-labelledby="report-title"><h2 id="report-title">Apontar produção</h2>
            ${open ? "" : notice("Esta ordem não aceita apontamentos (só ordens firmes abertas, iniciadas ou paradas).", "warning")}
            <div id="report-status" class="report-status-area"></div>
            ${(order.operations || []).length ? formHtml(order, chosen) : notice("A ordem não tem operações no roteiro.", "warning")}
          </section>`
        : ""
    }
    <section class="panel" aria-labelledby="reports-title"><h2 id="reports-title">Apontamentos recentes</h2><div id="order-reports">${reportsPage ? reportsTable(reportsPage.data || [], canWrite) : notice("Apontamentos indisponíveis.")}</div></section>`;

  const reportsArea = main.querySelector("#order-reports");
  const operationsArea = main.querySelector("#order-operations");
  // A delivered report moves the operations' quantities (Protheus's SH6): ask again.
  const refreshOrder = async () => {
    try {
      const fresh = await api(`/api/v1/production-orders/${encodeURIComponent(key)}`, { signal });
      if (ctx.active()) operationsArea.innerHTML = operationsTable(fresh);
    } catch {
      /* the table stays as it was */
    }
  };
  let reportsTimer = 0;
  const refreshReports = () => {
    clearTimeout(reportsTimer);
    reportsTimer = setTimeout(async () => {
      try {
        const page = await api(url("production-reports", { order: key, page_size: 20 }), { signal });
        if (ctx.active()) reportsArea.innerHTML = reportsTable(page.data || [], canWrite);
      } catch {
        /* the list stays as it was */
      }
    }, 250);
  };
  ctx.onLeave(() => clearTimeout(reportsTimer));

  const form = main.querySelector("#report-form");
  if (!form) {
    ctx.onEvent("report.status", (event) => event.order === key && refreshReports());
    ctx.onPoll(refreshReports);
    ctx.ready();
    return;
  }

  const statusArea = main.querySelector("#report-status");
  const submit = form.querySelector("#report-submit");
  const cancel = form.querySelector("#report-cancel");
  const title = form.querySelector("#report-form-title");
  const els = form.elements;

  const syncMachine = () => {
    const option = els.operation.selectedOptions[0];
    if (option) els.machine.value = option.dataset.machine || "";
  };
  syncMachine();
  els.operation.addEventListener("change", syncMachine);

  function clearErrors() {
    for (const element of form.querySelectorAll("[data-error-for]")) element.textContent = "";
    for (const element of form.querySelectorAll("[aria-invalid]")) element.removeAttribute("aria-invalid");
  }

  function showErrors(error) {
    const placed = [];
    const rest = [];
    for (const detail of error.details || []) {
      const name = detail.field;
      const slot = name && FIELDS.includes(name) ? form.querySelector(`[data-error-for="${name}"]`) : null;
      if (slot) {
        slot.textContent = slot.textContent ? `${slot.textContent} ${detail.message}` : detail.message;
        const input = els[name];
        if (input && input.setAttribute) input.setAttribute("aria-invalid", "true");
        placed.push(name);
      } else {
        rest.push(detail.message ? `${detail.field ? `${detail.field}: ` : ""}${detail.message}` : "");
      }
    }
    const formSlot = form.querySelector('[data-error-for="form"]');
    formSlot.textContent = [placed.length ? error.message || "Corrija os campos indicados." : error.message, ...rest]
      .filter(Boolean)
      .join(" ");
    const first = placed.length ? els[placed[0]] : null;
    (first && first.focus ? first : formSlot).focus?.();
  }

  function collect(wallErrors) {
    const number = (value) => (value === "" ? null : Number(value));
    const moment = (name) => {
      try {
        return fromLocalInput(els[name].value);
      } catch (error) {
        if (!(error instanceof WallTimeError)) throw error;
        wallErrors.push({ field: name, message: error.message });
        return null;
      }
    };
    const body = {
      order: els.order.value.trim(),
      operation: els.operation.value,
      machine: els.machine.value.trim(),
      operator: els.operator.value.trim(),
      start: moment("start"),
      end: moment("end"),
      goodQuantity: number(els.goodQuantity.value),
      scrapQuantity: number(els.scrapQuantity.value) ?? 0,
      final: els.final.checked,
    };
    const reason = els.scrapReason.value.trim();
    if (reason) body.scrapReason = reason;
    // Leave out what is empty: the API names the missing field (required) at its place.
    for (const name of ["operation", "machine", "operator", "start", "end", "goodQuantity"]) {
      if (body[name] === null || body[name] === "") delete body[name];
    }
    return body;
  }

  // --- following a report's status -------------------------------------------------------
  let followed = null; // {id, status, timer}

  function statusLine(report) {
    const status = report.status;
    let detail = "";
    if (status === "delivered") detail = report.idAppointment ? ` · apontamento ${esc(report.idAppointment)} no Protheus` : "";
    else if (status === "retrying")
      detail = `${report.nextAttemptAt ? ` · próxima tentativa às ${fmtTime(report.nextAttemptAt, { date: false, seconds: true })}` : ""}${report.attempts ? ` (${report.attempts} tentativas)` : ""}`;
    const rejected =
      status === "rejected"
        ? `<p class="report-error" data-report-error>${esc(report.error || "O Protheus recusou o apontamento.")}</p><button type="button" data-action="correct">Corrigir</button>`
        : "";
    const busy = FINAL.has(status) ? "" : '<span class="spinner" aria-hidden="true"></span>';
    return `<div class="report-status" data-report-id="${esc(report.id)}" data-status="${esc(status)}" role="status" aria-live="polite">
        <p>${busy}Apontamento <code>${esc(String(report.id).slice(0, 8))}</code>: <strong>${esc(REPORT_STATUS_LABELS[status] || status)}</strong>${detail}</p>${rejected}</div>`;
  }

  function show(report) {
    if (!followed || String(report.id) !== followed.id) return;
    const previous = followed.status;
    followed.status = report.status;
    followed.report = { ...(followed.report || {}), ...report };
    statusArea.innerHTML = statusLine(followed.report);
    if (previous !== report.status) {
      announce(`Apontamento: ${REPORT_STATUS_LABELS[report.status] || report.status}.`);
      refreshReports();
      if (report.status === "delivered") refreshOrder();
    }
    if (FINAL.has(report.status)) clearTimeout(followed.timer);
  }

  async function pollReport() {
    if (!followed || FINAL.has(followed.status) || !ctx.active()) return;
    const current = followed;
    try {
      const report = await api(`/api/v1/production-reports/${encodeURIComponent(current.id)}`, { signal });
      if (current === followed) show(report);
    } catch (error) {
      if (error && error.name === "AbortError") return;
    }
    if (current === followed && !FINAL.has(current.status)) {
      clearTimeout(current.timer);
      current.timer = setTimeout(pollReport, POLL_MS);
    }
  }

  function follow(id, status) {
    if (followed) clearTimeout(followed.timer);
    followed = { id: String(id), status: null, report: { id: String(id) }, timer: 0 };
    show({ id: String(id), status });
    followed.timer = setTimeout(pollReport, POLL_MS);
  }
  ctx.onLeave(() => followed && clearTimeout(followed.timer));

  ctx.onEvent("report.status", async (event) => {
    if (followed && String(event.id) === followed.id) {
      if (FINAL.has(event.status)) {
        // The full report carries the appointment id or Protheus's message.
        try {
          const report = await api(`/api/v1/production-reports/${encodeURIComponent(event.id)}`, { signal });
          show(report);
          return;
        } catch {
          /* fall back to the event's own fields */
        }
      }
      show({ id: String(event.id), status: event.status, error: event.error });
    } else if (event.order === key) {
      refreshReports();
    }
  });
  ctx.onPoll(refreshReports);

  // --- correcting a rejected report -----------------------------------------------------
  let correcting = null; // the report id being corrected

  function fill(report) {
    if ([...els.operation.options].some((o) => o.value === report.operation)) els.operation.value = report.operation;
    els.machine.value = report.machine || "";
    els.operator.value = report.operator || "";
    els.start.value = report.start ? toLocalInput(new Date(report.start)) : "";
    els.end.value = report.end ? toLocalInput(new Date(report.end)) : "";
    els.goodQuantity.value = report.goodQuantity ?? "";
    els.scrapQuantity.value = report.scrapQuantity ?? 0;
    els.scrapReason.value = report.scrapReason || "";
    els.final.checked = Boolean(report.final);
  }

  function setMode(id) {
    correcting = id;
    title.textContent = id ? `Corrigir apontamento ${String(id).slice(0, 8)}` : "Novo apontamento";
    submit.textContent = id ? "Enviar correção" : "Enviar apontamento";
    cancel.hidden = !id;
    form.classList.toggle("correcting", Boolean(id));
  }

  async function correct(id) {
    let report = followed && followed.id === id ? followed.report : { id };
    try {
      report = await api(`/api/v1/production-reports/${encodeURIComponent(id)}`, { signal });
    } catch {
      /* use what the status line knows */
    }
    if (!followed || followed.id !== id) follow(id, report.status || "rejected");
    show(report);
    if (report.status && report.status !== "rejected") return;
    fill(report);
    clearErrors();
    setMode(id);
    statusArea.scrollIntoView({ block: "start" });
    els.goodQuantity.focus({ preventScroll: true });
  }

  statusArea.addEventListener("click", (event) => {
    if (event.target.closest('[data-action="correct"]') && followed) correct(followed.id);
  });
  reportsArea.addEventListener("click", (event) => {
    const button = event.target.closest('[data-action="correct-row"]');
    const row = button && button.closest("[data-report-row]");
    if (row) correct(row.dataset.reportRow);
  });
  cancel.addEventListener("click", () => {
    setMode(null);
    clearErrors();
  });

  // --- submitting ---------------------------------------------------------------------------
  let sending = false;
  let submission = null; // {key, text}: the same body sent again keeps its Idempotency-Key

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    if (sending) return;
    clearErrors();
    const wallErrors = [];
    const body = collect(wallErrors);
    if (wallErrors.length) {
      showErrors({ message: "Corrija os campos indicados.", details: wallErrors });
      return;
    }
    const text = JSON.stringify([correcting, body]);
    if (!submission || submission.text !== text) submission = { key: uuid(), text };
    const current = submission;
    sending = true;
    submit.disabled = true;
    form.setAttribute("aria-busy", "true");
    submit.textContent = "Enviando…";
    try {
      let answer;
      if (correcting) {
        answer = await api(`/api/v1/production-reports/${encodeURIComponent(correcting)}`, {
          method: "PATCH",
          body,
          signal,
        });
      } else {
        answer = await api("/api/v1/production-reports", {
          method: "POST",
          body,
          headers: { "Idempotency-Key": current.key },
          signal,
        });
      }
      submission = null;
      if (body.operator) sessionStorage.setItem(OPERATOR_KEY, body.operator);
      const id = answer.id;
      setMode(null);
      // The next report usually starts where this one ended.
      const endValue = els.end.value;
      els.goodQuantity.value = "";
      els.scrapQuantity.value = "0";
      els.scrapReason.value = "";
      els.final.checked = false;
      if (endValue) els.start.value = endValue;
      els.end.value = toLocalInput(new Date());
      follow(id, answer.status || "pending");
      announce("Apontamento recebido pelo MES.");
    } catch (error) {
      if (error && error.name === "AbortError") return;
      const retryable = error.status === 0 || error.status === 429 || error.status >= 500;
      if (!retryable) submission = null;
      if (retryable) {
        form.querySelector('[data-error-for="form"]').textContent =
          `${error.message} Envie de novo: o mesmo apontamento não será duplicado.`;
      } else {
        showErrors(error);
      }
    } finally {
      sending = false;
      submit.disabled = false;
      form.removeAttribute("aria-busy");
      submit.textContent = correcting ? "Enviar correção" : "Enviar apontamento";
    }
  });

  ctx.ready();
}
