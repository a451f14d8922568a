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
    this.attempt = 0;
    this.setMode("sse");
    // What happened while the stream was down: one poll catches the page up.
    if (wasDown) this.poll();
    try {
      await this.read(response.body, controller);
    } catch {
      /* dropped: handled below */
    }
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

  async read(body, controller) {
    const reader = body.getReader();
    const decoder = new TextDecoder();
    let buffer = "";
    let event = { type: "", data: [], id: null };
    this.armWatchdog(controller);
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return;
      this.armWatchdog(controller);
      buffer += decoder.decode(value, { stream: true });
      const lines = buffer.split(/\r\n|\r|\n/);
      // The last piece may be an unfinished line (a lone \r at the end is finished only when
      // the next chunk shows whether \n follows; treating it as finished is harmless here:
      // an empty line would only dispatch an empty event, which is skipped).
      buffer = lines.pop();
      for (const line of lines) {
        if (line === "") {
          this.dispatch(event);
          event = { type: "", data: [], id: event.id };
          continue;
        }
        if (line.startsWith(":")) continue; // keep-alive comment
        const colon = line.indexOf(":");
        const field = colon < 0 ? line : line.slice(0, colon);
        let text = colon < 0 ? "" : line.slice(colon + 1);
        if (text.startsWith(" ")) text = text.slice(1);
        if (field === "event") event.type = text;
        else if (field === "data") event.data.push(text);
        else if (field === "id" && !text.includes("\0")) event.id = text;
      }
    }
  }

  dispatch(event) {
    if (event.id !== null) this.lastId = event.id;
    if (!event.data.length) return;
    const type = event.type || "message";
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
