// The live stream: GET /api/v1/events read with fetch() (EventSource cannot send the
// Authorization header; the key never goes in a URL) and a small server-sent-events parser.
// When the stream drops, the pages poll every 5 s and the stream is retried with backoff
// (1 s, 2 s, 4 s ... 30 s, with jitter), resuming with Last-Event-ID. The `[data-live]`
// indicator says which: sse, polling or off.

const POLL_MS = 5000;
const BACKOFF_MIN_MS = 1000;
const BACKOFF_MAX_MS = 30000;
// The server sends a keep-alive comment every 15 s: 45 s of silence means a dead stream.
const SILENCE_MS = 45000;

const LABELS = {
  sse: "Ao vivo",
  polling: "Atualizando a cada 5 s",
  off: "Desconectado",
};

export class LiveStream {
  constructor({ getKey, onUnauthorized, indicator }) {
    this.getKey = getKey;
    this.onUnauthorized = onUnauthorized;
    this.indicator = indicator;
    this.listeners = new Map();
    this.pollers = new Set();
    this.mode = "off";
    this.lastId = null;
    this.attempt = 0;
    this.running = false;
    this.controller = null;
    this.retryTimer = null;
    this.pollTimer = null;
    this.watchdog = null;
    this.setMode("off");
  }

  /** Calls `handler(data, type)` for each event of `type` ("*" = every event); returns an
   * unsubscribe function. */
  on(type, handler) {
    if (!this.listeners.has(type)) this.listeners.set(type, new Set());
    this.listeners.get(type).add(handler);
    return () => this.listeners.get(type)?.delete(handler);
  }

  /** Calls `handler()` every 5 s while the stream is down; returns an unsubscribe function. */
  onPoll(handler) {
    this.pollers.add(handler);
    return () => this.pollers.delete(handler);
  }

  start() {
    if (this.running) return;
    this.running = true;
    this.attempt = 0;
    this.connect();
  }

  stop() {
    this.running = false;
    clearTimeout(this.retryTimer);
    clearTimeout(this.watchdog);
    this.stopPolling();
    if (this.controller) this.controller.abort();
    this.controller = null;
    this.lastId = null;
    this.setMode("off");
  }

  setMode(mode) {
    const changed = mode !== this.mode;
    this.mode = mode;
    if (this.indicator) {
      this.indicator.dataset.live = mode;
      this.indicator.querySelector(".live-text").textContent = LABELS[mode];
      this.indicator.title =
        mode === "sse"
          ? "Atualizações ao vivo pelo fluxo de eventos"
          : mode === "polling"
            ? "Fluxo de eventos fora do ar: consultando o servidor a cada 5 s"
            : "Sem atualizações automáticas";
    }
    if (mode === "polling") this.startPolling();
    else this.stopPolling();
    return changed;
  }

  startPolling() {
    if (this.pollTimer) return;
    this.pollTimer = setInterval(() => this.poll(), POLL_MS);
  }

  stopPolling() {
    clearInterval(this.pollTimer);
    this.pollTimer = null;
  }

  poll() {
    for (const handler of [...this.pollers]) {
      try {
        handler();
      } catch (error) {
        console.error(error);
      }
    }
  }

  async connect() {
    if (!this.running) return;
    const key = this.getKey();
    if (!key) {
      this.stop();
      return;
    }
    const controller = new AbortController();
    this.controller = controller;
    const headers = { Accept: "text/event-stream", Authorization: `Bearer ${key}` };
    if (this.lastId) headers["Last-Event-ID"] = this.lastId;
    let response;
    try {
      response = await fetch("/api/v1/events", {
        headers,
        signal: controller.signal,
        cache: "no-store",
      });
    } catch {
      this.dropped(controller);
      return;
    }
    if (response.status === 401) {
      this.stop();
      this.onUnauthorized();
      return;
    }
    if (!response.ok || !response.body) {
      this.dropped(controller);
      return;
    }
    const wasDown = this.mode === "polling";
    this.setMode("sse");
    // What happened while the stream was down: one poll catches the page up.
    if (wasDown) this.poll();
    const progress = { delivered: false };
    try {
      await this.read(response.body, controller, progress);
    } catch {
      /* dropped (network, watchdog): handled below */
    }
    // A stream that ended before saying anything is no success: keep backing off, and do not
    // insist on an id the server could not resume from.
    if (!progress.delivered) this.lastId = null;
    this.dropped(controller);
  }

  dropped(controller) {
    clearTimeout(this.watchdog);
    if (controller !== this.controller || !this.running) return;
    controller.abort();
    this.controller = null;
    this.setMode("polling");
    const base = Math.min(BACKOFF_MAX_MS, BACKOFF_MIN_MS * 2 ** this.attempt);
    this.attempt += 1;
    const delay = base / 2 + Math.random() * (base / 2);
    clearTimeout(this.retryTimer);
    this.retryTimer = setTimeout(() => this.connect(), delay);
  }

  armWatchdog(controller) {
    clearTimeout(this.watchdog);
    this.watchdog = setTimeout(() => controller.abort(), SILENCE_MS);
  }

  /** Reads the stream until it ends; `progress.delivered` turns true with its first complete
   * line (an event or a keep-alive). */
  async read(body, controller, progress) {
    const reader = body.getReader();
    const decoder = new TextDecoder();
    this.armWatchdog(controller);
    const parser = new SseParser((event) => this.dispatch(event));
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return;
      this.armWatchdog(controller);
      if (parser.feed(decoder.decode(value, { stream: true })) && !progress.delivered) {
        progress.delivered = true;
        this.attempt = 0; // the stream works: the next drop retries soon again
      }
    }
  }

  dispatch(event) {
    if (event.id !== null) this.lastId = event.id;
    if (!event.data.length) return;
    const type = event.type || "message";
    // The server could not resume from our id: what the page shows may have missed events,
    // so every page reloads its data (the same as one poll).
    if (type === "reset") {
      this.poll();
      return;
    }
    let data;
    try {
      data = JSON.parse(event.data.join("\n"));
    } catch {
      return;
    }
    for (const key of [type, "*"]) {
      const handlers = this.listeners.get(key);
      if (!handlers) continue;
      for (const handler of [...handlers]) {
        try {
          handler(data, type);
        } catch (error) {
          console.error(error);
        }
      }
    }
  }
}

/** The text/event-stream parser: `feed(text)` takes the decoded chunks as they come and calls
 * `onEvent({type, data: [lines], id})` for each complete event. A chunk may end anywhere, even
 * between the \r and \n of one line end: a trailing \r waits for the next chunk. */
export class SseParser {
  constructor(onEvent) {
    this.onEvent = onEvent;
    this.buffer = "";
    this.event = { type: "", data: [], id: null };
  }

  /** Parses what `text` completes; true when it held at least one complete line. */
  feed(text) {
    this.buffer += text;
    // A lone \r at the end may be the first half of \r\n: keep it for the next chunk.
    const cut = this.buffer.endsWith("\r") ? this.buffer.length - 1 : this.buffer.length;
    const lines = this.buffer.slice(0, cut).split(/\r\n|\r|\n/);
    // The last piece is an unfinished line.
    this.buffer = lines.pop() + this.buffer.slice(cut);
    for (const line of lines) this.line(line);
    return lines.length > 0;
  }

  line(line) {
    if (line === "") {
      const event = this.event;
      this.event = { type: "", data: [], id: event.id };
      this.onEvent(event);
      return;
    }
    if (line.startsWith(":")) return; // keep-alive comment
    const colon = line.indexOf(":");
    const field = colon < 0 ? line : line.slice(0, colon);
    let text = colon < 0 ? "" : line.slice(colon + 1);
    if (text.startsWith(" ")) text = text.slice(1);
    if (field === "event") this.event.type = text;
    else if (field === "data") this.event.data.push(text);
    else if (field === "id" && !text.includes("\0")) this.event.id = text;
  }
}
