// The page's first moments. Until the endpoints and their schemas are in and a form is
// built, a spinner stands where the form goes (index.html starts that way, before any
// script runs); then the page is marked ready, or says why it could not load, with a retry.
// The marker, for people and for tests: <body data-state="loading" | "ready" | "failed">,
// and <main aria-busy> true while loading.

const $ = (id) => document.getElementById(id);
/** A server that takes this long to list its endpoints is not coming: say so. */
const TIMEOUT_MS = 30_000;

function setState(state, text) {
  document.body.dataset.state = state;
  document.querySelector("main").setAttribute("aria-busy", String(state === "loading"));
  $("endpoint").disabled = state !== "ready";
  $("loading").setAttribute("role", state === "failed" ? "alert" : "status");
  $("loading-text").textContent = text;
  $("loading-retry").hidden = state !== "failed";
}

/** Loading (again): the spinner; the signal that gives up after TIMEOUT_MS. */
export function begin() {
  $("endpoint-title").textContent = "Loading endpoints…";
  setState("loading", "Asking the server for its endpoints and their forms…");
  return AbortSignal.timeout(TIMEOUT_MS);
}

export function ready() {
  setState("ready", "");
}

/** The catalog did not come: why, in place of the spinner; `retry` loads it again. */
export function failed(err, retry) {
  $("endpoint-title").textContent = "Could not load the endpoints";
  setState("failed", reason(err));
  $("loading-retry").onclick = retry;
}

function reason(err) {
  if (err.name === "TimeoutError") return `The server did not answer within ${TIMEOUT_MS / 1000} s.`;
  if (!err.status) {
    // fetch's own TypeError: no answer at all (the server down, the network gone).
    return err instanceof TypeError ? `The server could not be reached (${err.message}).` : period(err.message);
  }
  // A proxy's error page is HTML: its status says enough.
  const said = typeof err.body === "string" && err.body.trim().startsWith("<") ? "" : err.message.slice(0, 300);
  const answer = said && said !== `HTTP ${err.status}` ? `HTTP ${err.status}: ${said}` : `HTTP ${err.status}`;
  const hint = err.status === 401 || err.status === 403 ? " This server needs an API key: enter it above." : "";
  return `The server answered ${period(answer)}${hint}`;
}

function period(text) {
  return /[.!?]$/.test(text) ? text : `${text}.`;
}
