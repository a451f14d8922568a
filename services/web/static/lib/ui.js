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
// The pages show and take times in the plant's clock (PLANT_TIMEZONE, an IANA name the session
// route tells) whatever the tablet's own zone, with the offset of each instant (daylight
// saving time changes it). Before the session answers, the offset an answer carried (or the
// browser's) stands in.

let plantZone = null; // Intl.DateTimeFormat in the plant's zone, once known
let plantOffsetMin = null;

const OFFSET_RE = /([+-])(\d{2}):?(\d{2})$/;

/** Uses the plant's IANA time zone (GET /api/v1/session's `timezone`) from now on. */
export function setPlantTimezone(name) {
  if (!name) return;
  try {
    plantZone = new Intl.DateTimeFormat("en-US", {
      timeZone: name,
      hourCycle: "h23",
      year: "numeric",
      month: "2-digit",
      day: "2-digit",
      hour: "2-digit",
      minute: "2-digit",
      second: "2-digit",
    });
  } catch {
    plantZone = null; // a zone this browser does not know: the offsets learned stand in
  }
}

/** Learns the plant's UTC offset (minutes) from an ISO string carrying one (used only while
 * the plant's time zone is not known). */
export function learnPlantOffset(iso) {
  if (typeof iso !== "string") return;
  const match = OFFSET_RE.exec(iso);
  if (!match) return;
  const minutes = Number(match[2]) * 60 + Number(match[3]);
  plantOffsetMin = match[1] === "-" ? -minutes : minutes;
}

/** The plant's UTC offset (minutes) at an instant. */
export function plantOffset(at = new Date()) {
  if (plantZone) {
    const parts = {};
    for (const part of plantZone.formatToParts(at)) parts[part.type] = part.value;
    const asUtc = Date.UTC(
      Number(parts.year),
      Number(parts.month) - 1,
      Number(parts.day),
      Number(parts.hour),
      Number(parts.minute),
      Number(parts.second),
    );
    return Math.round((asUtc - Math.floor(at.getTime() / 1000) * 1000) / 60000);
  }
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

/** A wall time that the plant's clock skips (the hour lost when daylight saving time starts). */
export class WallTimeError extends Error {}

const pad = (n) => String(n).padStart(2, "0");

/** "29/11 14:05" in the plant's clock (with the year when not this year). */
export function fmtTime(value, { seconds = false, date = true } = {}) {
  if (!value) return "—";
  const d = value instanceof Date ? value : new Date(value);
  if (Number.isNaN(d.getTime())) return esc(String(value)); // shown as is, but never markup
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

/** Protheus dates YYYYMMDD as DD/MM/YYYY (HTML-escaped: the pages put it in markup). */
export function fmtDay(text) {
  if (!text) return "—";
  const value = String(text);
  if (!/^\d{8}$/.test(value)) return esc(value);
  return `${value.slice(6, 8)}/${value.slice(4, 6)}/${value.slice(0, 4)}`;
}

/** A datetime-local value (YYYY-MM-DDTHH:MM) of an instant in the plant's clock. */
export function toLocalInput(date) {
  const w = wall(date);
  return `${w.getUTCFullYear()}-${pad(w.getUTCMonth() + 1)}-${pad(w.getUTCDate())}T${pad(w.getUTCHours())}:${pad(w.getUTCMinutes())}`;
}

/** A datetime-local value read in the plant's clock, as ISO-8601 with the plant's offset at
 * that instant; null when empty or unreadable. Throws WallTimeError for a time the plant's
 * clock skips (an ambiguous one, repeated when daylight saving time ends, is the first). */
export function fromLocalInput(value) {
  if (!value) return null;
  const text = value.length === 16 ? `${value}:00` : value;
  const local = new Date(`${text}Z`); // the wall time's fields, as if UTC
  if (Number.isNaN(local.getTime())) return null;
  // The instant is the wall time less the offset in force then: try the offsets in force
  // within a day of it (any UTC offset is less than 15 h; they differ only around a change);
  // the earliest instant that gives this wall time back wins.
  const offsets = new Set();
  for (let hours = -24; hours <= 24; hours += 4) offsets.add(plantOffset(new Date(local.getTime() + hours * 3600000)));
  const candidates = [...offsets]
    .map((offset) => ({ offset, at: new Date(local.getTime() - offset * 60000) }))
    .filter(({ at }) => wall(at).getTime() === local.getTime())
    .sort((a, b) => a.at - b.at);
  if (!candidates.length) {
    throw new WallTimeError("Este horário não existe no relógio da planta (mudança de horário de verão).");
  }
  return `${text}${offsetText(candidates[0].offset)}`;
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
