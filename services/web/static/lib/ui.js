// Small helpers shared by the pages: HTML escaping, labels in Portuguese, number and time
// formatting in the plant's clock.

const ESCAPES = { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" };

/** Escapes text for HTML content and attribute values. */
export function esc(value) {
  if (value === null || value === undefined) return "";
  return String(value).replace(/[&<>"']/g, (ch) => ESCAPES[ch]);
}

export const STATES = ["running", "idle", "setup", "stopped", "fault", "offline"];

export const STATE_LABELS = {
  running: "Produzindo",
  idle: "Ociosa",
  setup: "Preparação",
  stopped: "Parada",
  fault: "Falha",
  offline: "Sem comunicação",
  unknown: "Sem dados",
};

/** A machine state as shown: a known state or `unknown`. */
export function stateKey(state) {
  return STATE_LABELS[state] && state ? state : "unknown";
}

export function stateLabel(state) {
  return STATE_LABELS[stateKey(state)];
}

export const ORDER_STATUS_LABELS = {
  planned: "Prevista",
  open: "Aberta",
  started: "Iniciada",
  idle: "Parada (sem atividade)",
  partially_closed: "Encerrada parcial",
  closed: "Encerrada",
};

export const REPORT_STATUS_LABELS = {
  pending: "Aguardando envio",
  sending: "Enviando ao Protheus",
  retrying: "Nova tentativa agendada",
  delivered: "Entregue ao Protheus",
  rejected: "Rejeitado pelo Protheus",
  reversed: "Estornado no Protheus",
};

export const STOP_STATUS_LABELS = {
  open: "Em curso",
  unclassified: "Sem motivo",
  pending: "Aguardando envio",
  sending: "Enviando ao Protheus",
  retrying: "Nova tentativa agendada",
  delivered: "Entregue ao Protheus",
  rejected: "Rejeitada pelo Protheus",
  reversed: "Estornada no Protheus",
};

export const ANOMALY_KIND_LABELS = {
  spike: "Pico",
  stuck: "Sensor travado",
  out_of_range: "Fora da faixa",
  drift: "Deriva",
};

/** The OEE colour class: red < 0.65, yellow 0.65–0.85, green > 0.85, none when null. */
export function oeeClass(value) {
  if (value === null || value === undefined || Number.isNaN(value)) return "";
  if (value < 0.65) return "oee-red";
  if (value > 0.85) return "oee-green";
  return "oee-yellow";
}

const PERCENT = new Intl.NumberFormat("pt-BR", { style: "percent", maximumFractionDigits: 0 });
const PERCENT1 = new Intl.NumberFormat("pt-BR", { style: "percent", maximumFractionDigits: 1 });
const NUMBER = new Intl.NumberFormat("pt-BR", { maximumFractionDigits: 2 });

export function pct(value, precise = false) {
  if (value === null || value === undefined || Number.isNaN(value)) return "—";
  return (precise ? PERCENT1 : PERCENT).format(value);
}

export function num(value) {
  if (value === null || value === undefined || Number.isNaN(Number(value))) return "—";
  return NUMBER.format(Number(value));
}

/** Seconds as "1 h 05 min", "12 min", "40 s". */
export function duration(seconds) {
  if (seconds === null || seconds === undefined) return "—";
  const s = Math.max(0, Math.round(seconds));
  if (s < 60) return `${s} s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m} min`;
  const h = Math.floor(m / 60);
  return `${h} h ${String(m % 60).padStart(2, "0")} min`;
}

// --- time in the plant's clock ------------------------------------------------------------
// The telemetry answers carry the plant's offset (PLANT_TIMEZONE); the pages show and take
// times in that clock whatever the tablet's own zone. Until an answer tells it, the browser's
// offset is used.

let plantOffsetMin = null;

const OFFSET_RE = /([+-])(\d{2}):?(\d{2})$/;

/** Learns the plant's UTC offset (minutes) from an ISO string carrying one. */
export function learnPlantOffset(iso) {
  if (typeof iso !== "string") return;
  const match = OFFSET_RE.exec(iso);
  if (!match) return;
  const minutes = Number(match[2]) * 60 + Number(match[3]);
  plantOffsetMin = match[1] === "-" ? -minutes : minutes;
}

export function plantOffset(at = new Date()) {
  return plantOffsetMin ?? -at.getTimezoneOffset();
}

function offsetText(minutes) {
  const sign = minutes < 0 ? "-" : "+";
  const abs = Math.abs(minutes);
  return `${sign}${String(Math.floor(abs / 60)).padStart(2, "0")}:${String(abs % 60).padStart(2, "0")}`;
}

/** The plant's wall clock of an instant, as the fields of a UTC Date. */
function wall(date) {
  return new Date(date.getTime() + plantOffset(date) * 60000);
}

const pad = (n) => String(n).padStart(2, "0");

/** "29/11 14:05" in the plant's clock (with the year when not this year). */
export function fmtTime(value, { seconds = false, date = true } = {}) {
  if (!value) return "—";
  const d = value instanceof Date ? value : new Date(value);
  if (Number.isNaN(d.getTime())) return String(value);
  const w = wall(d);
  const time = `${pad(w.getUTCHours())}:${pad(w.getUTCMinutes())}${seconds ? `:${pad(w.getUTCSeconds())}` : ""}`;
  if (!date) return time;
  const year = w.getUTCFullYear() !== wall(new Date()).getUTCFullYear() ? `/${w.getUTCFullYear()}` : "";
  return `${pad(w.getUTCDate())}/${pad(w.getUTCMonth() + 1)}${year} ${time}`;
}

/** "29/11 06:00 – 14:00", with the end's date when it falls on another day. */
export function fmtRange(start, end) {
  const sameDay = fmtTime(start).slice(0, 5) === fmtTime(end).slice(0, 5);
  return `${fmtTime(start)} – ${fmtTime(end, { date: !sameDay })}`;
}

/** Protheus dates YYYYMMDD as DD/MM/YYYY. */
export function fmtDay(text) {
  if (!text || text.length !== 8) return text || "—";
  return `${text.slice(6, 8)}/${text.slice(4, 6)}/${text.slice(0, 4)}`;
}

/** A datetime-local value (YYYY-MM-DDTHH:MM) of an instant in the plant's clock. */
export function toLocalInput(date) {
  const w = wall(date);
  return `${w.getUTCFullYear()}-${pad(w.getUTCMonth() + 1)}-${pad(w.getUTCDate())}T${pad(w.getUTCHours())}:${pad(w.getUTCMinutes())}`;
}

/** A datetime-local value read in the plant's clock, as ISO-8601 with the plant's offset. */
export function fromLocalInput(value) {
  if (!value) return null;
  const text = value.length === 16 ? `${value}:00` : value;
  const guess = new Date(`${text}Z`);
  if (Number.isNaN(guess.getTime())) return null;
  return `${text}${offsetText(plantOffset(guess))}`;
}

/** ISO-8601 with the plant's offset for an instant (for API windows). */
export function isoPlant(date) {
  const w = wall(date);
  return `${w.getUTCFullYear()}-${pad(w.getUTCMonth() + 1)}-${pad(w.getUTCDate())}T${pad(w.getUTCHours())}:${pad(w.getUTCMinutes())}:${pad(w.getUTCSeconds())}${offsetText(plantOffset(date))}`;
}

// --- DOM ---------------------------------------------------------------------------------

/** A message for screen readers (the shared aria-live region). */
export function announce(text) {
  const region = document.getElementById("announcer");
  if (!region) return;
  region.textContent = "";
  // A fresh text node after clearing makes readers repeat a message said before.
  setTimeout(() => {
    region.textContent = text;
  }, 30);
}

/** A notice block: loading, empty, error, unavailable. */
export function notice(text, kind = "info") {
  return `<p class="notice notice-${esc(kind)}" role="${kind === "error" ? "alert" : "status"}">${esc(text)}</p>`;
}

/** Why a request failed, in words for the page. */
export function failure(error) {
  if (!error) return "Erro desconhecido.";
  if (error.status === 403) return "Sua chave de API não tem permissão para estes dados.";
  if (error.status === 404) return error.message || "Não encontrado.";
  return error.message || "Falha ao consultar o servidor.";
}

/** The small state badge: a colour plus the state's name (never colour alone). */
export function stateBadge(state) {
  const key = stateKey(state);
  return `<span class="state-badge" data-state="${key}"><span class="dot" aria-hidden="true"></span>${esc(STATE_LABELS[key])}</span>`;
}
