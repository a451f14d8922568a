// #/entrar: asks for the API key once; GET /api/v1/session checks it and tells its scopes.
// The key is kept in sessionStorage["mes.apiKey"] (this browser tab's session), never in a URL,
// nor offered to the password manager (autocomplete off, the field cleared once signed in).

import { api, setKey } from "../lib/api.js";
import { notice } from "../lib/ui.js";

export async function render(ctx) {
  const { main } = ctx;
  main.innerHTML = `
    <section class="signin">
      <h1>Entrar no MES</h1>
      ${ctx.signoutReason ? notice(ctx.signoutReason, "warning") : ""}
      <form id="signin" class="card" novalidate>
        <label for="api-key">Chave de API</label>
        <input id="api-key" name="apiKey" type="password" autocomplete="off"
               required spellcheck="false" autocapitalize="off" aria-describedby="signin-help signin-error">
        <p id="signin-help" class="help">Peça a sua chave ao administrador do MES. Ela fica guardada só
          nesta aba do navegador até você sair ou fechar a aba.</p>
        <p id="signin-error" class="field-error" data-error-for="form" role="alert"></p>
        <button type="submit" class="primary">Entrar</button>
      </form>
    </section>`;
  const form = main.querySelector("#signin");
  const input = form.querySelector("#api-key");
  const error = form.querySelector("[data-error-for=form]");
  const button = form.querySelector("button[type=submit]");
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const key = input.value.trim();
    error.textContent = "";
    input.removeAttribute("aria-invalid");
    if (!key) {
      error.textContent = "Informe a chave de API.";
      input.setAttribute("aria-invalid", "true");
      input.focus();
      return;
    }
    button.disabled = true;
    button.textContent = "Verificando…";
    try {
      const session = await api("/api/v1/session", { key, quiet401: true, signal: ctx.signal });
      setKey(key);
      input.value = ""; // nothing for a password manager to offer to keep
      ctx.signedIn(session || { name: "", scopes: [] });
    } catch (failure) {
      if (failure && failure.name === "AbortError") return;
      error.textContent =
        failure.status === 401 ? "Chave de API inválida." : failure.message || "Falha ao entrar.";
      input.setAttribute("aria-invalid", "true");
      input.focus();
      input.select();
    } finally {
      button.disabled = false;
      button.textContent = "Entrar";
    }
  });
  ctx.ready();
  input.focus();
}
