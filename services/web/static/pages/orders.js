// #/ordens: production orders with a status filter (select[name=status]) and pages; each row
// [data-order=KEY] opens the order's detail and report form. Filters live in the hash
// (#/ordens?status=started&page=2) so that back and reload keep them.

import { api, url } from "../lib/api.js";
import { ORDER_STATUS_LABELS, esc, fmtDay, notice, num, pct } from "../lib/ui.js";

const PAGE_SIZE = 50;

function hashFor(query) {
  const params = new URLSearchParams();
  for (const [name, value] of Object.entries(query)) if (value) params.set(name, value);
  const text = params.toString();
  return `#/ordens${text ? `?${text}` : ""}`;
}

export async function render(ctx) {
  const { main, signal } = ctx;
  const status = ctx.query.status || "";
  const product = ctx.query.product || "";
  const page = Math.max(1, Number(ctx.query.page) || 1);

  main.innerHTML = `
    <div class="page-head"><h1>Ordens de produção</h1></div>
    <form class="filters card" id="orders-filter" role="search" aria-label="Filtrar ordens">
      <label>Situação
        <select name="status">
          <option value="">Todas</option>
          ${Object.entries(ORDER_STATUS_LABELS)
            .map(([value, label]) => `<option value="${value}"${value === status ? " selected" : ""}>${esc(label)}</option>`)
            .join("")}
        </select>
      </label>
      <label>Produto
        <input name="product" type="search" value="${esc(product)}" autocomplete="off" placeholder="código exato">
      </label>
      <button type="submit">Filtrar</button>
    </form>
    <div id="orders-result">${notice("Carregando ordens…")}</div>`;

  const form = main.querySelector("#orders-filter");
  const go = () =>
    (location.hash = hashFor({
      status: form.elements.status.value,
      product: form.elements.product.value.trim(),
    }));
  form.elements.status.addEventListener("change", go);
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    go();
  });

  const result = main.querySelector("#orders-result");
  let data;
  try {
    data = await api(url("production-orders", { status, product, page, page_size: PAGE_SIZE }), { signal });
  } catch (error) {
    if (error && error.name === "AbortError") throw error;
    if (error.status === 400 && error.details.length) {
      result.innerHTML = notice(error.details.map((d) => `${d.field}: ${d.message}`).join(" "), "error");
      ctx.ready();
      return;
    }
    throw error;
  }
  if (!ctx.active()) return;
  const rows = data.data || [];
  const body = rows
    .map((order) => {
      const quantity = Number(order.C2_QUANT) || 0;
      const done = Number(order.C2_QUJE) || 0;
      const share = quantity > 0 ? Math.min(1, done / quantity) : 0;
      const href = `#/ordens/${encodeURIComponent(order.order)}`;
      return `<tr data-order="${esc(order.order)}" data-status="${esc(order.status)}"><td><a href="${href}">${esc(order.order)}</a></td><td>${esc(order.C2_PRODUTO || "")}</td><td><span class="tag" data-order-status="${esc(order.status)}">${esc(ORDER_STATUS_LABELS[order.status] || order.status)}</span>${order.situation && order.situation !== "normal" ? ` <span class="tag warn">${order.situation === "suspended" ? "suspensa" : "sacramentada"}</span>` : ""}</td><td class="num">${num(done)} / ${num(quantity)} ${esc(order.C2_UM || "")}</td><td><progress max="1" value="${share}" aria-label="Progresso da ordem ${esc(order.order)}: ${pct(share)}"></progress></td><td>${fmtDay(order.C2_DATPRI)}</td><td class="wide-only">${fmtDay(order.C2_DATPRF)}</td></tr>`;
    })
    .join("");
  const totalPages = data.totalPages || 1;
  const pager = `<nav class="pager" aria-label="Páginas">
      ${page > 1 ? `<a class="button" href="${hashFor({ status, product, page: String(page - 1) })}" rel="prev">‹ Anterior</a>` : ""}
      <span>Página ${data.page || page} de ${totalPages} · ${num(data.total)} ordens</span>
      ${page < totalPages ? `<a class="button" href="${hashFor({ status, product, page: String(page + 1) })}" rel="next">Próxima ›</a>` : ""}
    </nav>`;
  result.innerHTML = rows.length
    ? `<div class="table-wrap"><table class="orders"><caption class="sr-only">Ordens de produção</caption><thead><tr><th>Ordem</th><th>Produto</th><th>Situação</th><th class="num">Produzido</th><th>Progresso</th><th>Início previsto</th><th class="wide-only">Fim previsto</th></tr></thead><tbody>${body}</tbody></table></div>${pager}`
    : notice("Nenhuma ordem com estes filtros.");
  // A row is a target as a whole (large touch area), the link inside stays the keyboard stop.
  result.addEventListener("click", (event) => {
    const row = event.target.closest("tr[data-order]");
    if (row && !event.target.closest("a")) location.hash = `#/ordens/${encodeURIComponent(row.dataset.order)}`;
  });
  ctx.ready();
}
