// The API key of this browser session and the fetch wrapper every page uses: it adds
// `Authorization: Bearer <key>`, reads the envelope and turns errors into ApiError. A 401
// anywhere signs the user out (the app goes back to #/entrar).

const KEY_NAME = "mes.apiKey";

let onUnauthorized = () => {};

export function getKey() {
  try {
    return sessionStorage.getItem(KEY_NAME);
  } catch {
    return null;
  }
}

export function setKey(key) {
  sessionStorage.setItem(KEY_NAME, key);
}

export function clearKey() {
  try {
    sessionStorage.removeItem(KEY_NAME);
  } catch {
    /* storage unavailable: nothing kept */
  }
}

/** What to do on a 401 (the app installs it: clear the key, go to sign-in). */
export function setUnauthorizedHandler(handler) {
  onUnauthorized = handler;
}

export class ApiError extends Error {
  constructor(status, message, code = null, details = [], body = null) {
    super(message);
    this.name = "ApiError";
    this.status = status;
    this.code = code;
    this.details = Array.isArray(details) ? details : [];
    this.body = body;
  }
}

/** Builds `/api/v1/<path>?<query>` leaving out empty query values. */
export function url(path, query = {}) {
  const params = new URLSearchParams();
  for (const [name, value] of Object.entries(query)) {
    if (value !== null && value !== undefined && value !== "") params.set(name, String(value));
  }
  const text = params.toString();
  return `/api/v1/${path.replace(/^\//, "")}${text ? `?${text}` : ""}`;
}

/**
 * Calls the API and answers the envelope's `data` (or the whole body with `raw`).
 * Options: method, body (JSON), headers, signal, key (instead of the stored one), raw,
 * quiet401 (do not sign out on 401: the sign-in form's own check).
 */
export async function api(path, options = {}) {
  const { method = "GET", body, signal, raw = false, quiet401 = false } = options;
  const key = options.key ?? getKey();
  const headers = { Accept: "application/json", ...(options.headers || {}) };
  if (key) headers.Authorization = `Bearer ${key}`;
  const init = { method, headers, signal, cache: "no-store" };
  if (body !== undefined) {
    headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  let response;
  try {
    response = await fetch(path.startsWith("/") ? path : url(path), init);
  } catch (error) {
    if (error && error.name === "AbortError") throw error;
    throw new ApiError(0, "Sem conexão com o servidor. Verifique a rede e tente de novo.", "network");
  }
  let payload = null;
  const type = response.headers.get("Content-Type") || "";
  if (type.includes("json")) {
    try {
      payload = await response.json();
    } catch {
      payload = null;
    }
  }
  if (response.ok && (!payload || payload.success !== false)) {
    return raw ? payload : payload ? payload.data : null;
  }
  const error = payload && payload.error ? payload.error : {};
  const message =
    (payload && payload.message) || defaultMessage(response.status) || `Erro ${response.status}.`;
  const failure = new ApiError(response.status, message, error.code || null, error.details, payload);
  if (response.status === 401 && !quiet401) onUnauthorized(failure);
  throw failure;
}

function defaultMessage(status) {
  switch (status) {
    case 401:
      return "Chave de API inválida ou expirada.";
    case 403:
      return "Sua chave de API não tem permissão para esta ação.";
    case 404:
      return "Não encontrado.";
    case 413:
      return "Dados grandes demais.";
    case 429:
      return "Muitas requisições; aguarde um instante.";
    case 502:
    case 503:
    case 504:
      return "Serviço indisponível no momento; tente de novo.";
    default:
      return null;
  }
}

/** Whether the scopes allow `scope` (admin implies every scope). */
export function allows(scopes, scope) {
  return Array.isArray(scopes) && (scopes.includes("admin") || scopes.includes(scope));
}
