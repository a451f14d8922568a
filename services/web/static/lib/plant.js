// The plant summary (GET /api/v1/plant), kept a minute so that opening a machine from the
// plant page does not ask for it again. It also teaches the pages the plant's UTC offset.

import { api } from "./api.js";
import { learnPlantOffset } from "./ui.js";

const MACHINE_PAGE = 500;

/** Without /api/v1/plant (an older telemetry service): the machine list grouped by line,
 * without shift, order or OEE (`partial: true`). */
async function fromMachineList(signal) {
  const machines = [];
  for (let page = 1; page <= 20; page += 1) {
    const data = await api(`/api/v1/machines?page=${page}&page_size=${MACHINE_PAGE}`, { signal });
    machines.push(...(data.data || []));
    if (page >= (data.totalPages || 1)) break;
  }
  const lines = new Map();
  for (const m of machines) {
    const key = [m.site, m.area, m.line].join("/");
    if (!lines.has(key)) lines.set(key, { site: m.site, area: m.area, line: m.line, machines: [] });
    lines.get(key).machines.push({
      machine: m.machine,
      description: m.description,
      state: m.state,
      stateSince: m.stateSince,
      lastSeen: m.lastSeen,
      order: null,
      product: null,
      oee: null,
    });
    learnPlantOffset(m.lastSeen);
  }
  return { shift: null, lines: [...lines.values()], partial: true };
}

let cached = null;
let cachedAt = 0;

export async function loadPlant({ signal, maxAgeMs = 0 } = {}) {
  if (cached && maxAgeMs > 0 && Date.now() - cachedAt <= maxAgeMs) return cached;
  let data;
  try {
    data = await api("/api/v1/plant", { signal });
  } catch (error) {
    if (!error || error.status !== 404) throw error;
    data = await fromMachineList(signal);
  }
  remember(data);
  return data;
}

export function remember(data) {
  cached = data;
  cachedAt = Date.now();
  if (data && data.shift) learnPlantOffset(data.shift.start);
}

/** The machine's entry in the cached summary, with its line, or null. */
export function cachedMachine(code) {
  if (!cached) return null;
  for (const line of cached.lines || []) {
    for (const machine of line.machines || []) {
      if (machine.machine === code) return { ...machine, site: line.site, area: line.area, line: line.line };
    }
  }
  return null;
}

export function cachedShift() {
  return cached ? cached.shift : null;
}

/** The shift window to show: the summary's current shift, else the last 8 hours. */
export function shiftWindow(shift) {
  const now = new Date();
  if (shift && shift.start && shift.end) {
    const start = new Date(shift.start);
    const end = new Date(shift.end);
    if (!Number.isNaN(start.getTime()) && !Number.isNaN(end.getTime()) && end > start) {
      return { start, end, label: "Turno atual", fromApi: true };
    }
  }
  return { start: new Date(now.getTime() - 8 * 3600 * 1000), end: now, label: "Últimas 8 horas", fromApi: false };
}
