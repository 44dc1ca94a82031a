// The playground: pick an endpoint, fill its generated form (and paint a motion brush),
// submit through the queue, follow it over SSE, watch the video (or hear TTS's audio).
// Plain ES modules, no build.

import * as api from "./api.js";
import { LANGUAGES, snippet } from "./codegen.js";
import { el } from "./dom.js";
import { clearFieldError, FieldError, SchemaForm } from "./form.js";
import * as loading from "./loading.js";
import { Painter } from "./painter.js";

const $ = (id) => document.getElementById(id);
const HISTORY_KEY = "vidserve.history";
const ENDPOINT_KEY = "vidserve.endpoint";
const MAX_HISTORY = 50;
const POLL_MS = 1000;
/** The picker's groups, in this order; a kind not listed comes after them. */
const KINDS = {
  "image-to-video": "Image to video",
  "reference-to-video": "Reference to video",
  elements: "Elements",
  effects: "Effects",
  "text-to-video": "Text to video",
  lipsync: "Lipsync",
  avatar: "AI avatar",
  "text-to-speech": "Text to speech",
};

const app = {
  models: [],
  serving: null, // /playground/serving.json: what each endpoint's engine here renders
  spec: null,
  form: null,
  painter: null,
  watches: new Map(), // request id -> Watch
  shown: null, // the Watch on the Result tab
  language: "curl",
  codeBody: null, // the body the Code tab shows; null: the form's current one
  dynamicLabels: [], // "Dynamic 1", ... in the order the last request sent them
};

// --- history --------------------------------------------------------------------------------

function loadHistory() {
  try {
    return JSON.parse(localStorage.getItem(HISTORY_KEY)) || [];
  } catch {
    return [];
  }
}

function saveHistory(entries) {
  localStorage.setItem(HISTORY_KEY, JSON.stringify(entries.slice(0, MAX_HISTORY)));
  renderHistory();
}

function updateHistory(id, changes) {
  const entries = loadHistory();
  const entry = entries.find((e) => e.id === id);
  if (entry) {
    Object.assign(entry, changes);
    saveHistory(entries);
  }
}

function shortName(endpointId) {
  return endpointId.replace(/^fal-ai\/kling-video\//, "").replace(/\/image-to-video$/, "");
}

function renderHistory() {
  const items = loadHistory().map((entry) => {
    const open = el(
      "button",
      { type: "button", class: "entry", "data-request-id": entry.id },
      el("span", { class: "badge", "data-status": entry.status }, entry.status),
      el("strong", {}, shortName(entry.endpointId)),
      el("time", { datetime: new Date(entry.created).toISOString() }, new Date(entry.created).toLocaleString()),
      el("span", { class: "prompt" }, entry.prompt || ""),
    );
    open.addEventListener("click", () => showRequest(entry));
    const reuse = el("button", { type: "button", class: "link", title: "put this request's values in the form" }, "reuse");
    reuse.hidden = !entry.body;
    reuse.addEventListener("click", () => reuseRequest(entry));
    return el("li", {}, open, reuse);
  });
  $("history").replaceChildren(...(items.length ? items : [el("li", { class: "muted" }, "No requests yet.")]));
}

// --- one request followed over SSE ----------------------------------------------------------

class Watch {
  constructor(entry) {
    this.entry = entry;
    this.state = { status: "IN_QUEUE", label: "IN_QUEUE", position: null, progress: 0, logs: [], timeline: [] };
    this.abort = new AbortController();
  }

  note(text) {
    this.state.timeline.push({ time: new Date(), text });
  }

  apply(status, { fullLogs = false } = {}) {
    const st = this.state;
    if (status.status !== st.status || (status.status === "IN_QUEUE" && status.queue_position !== st.position)) {
      if (status.status === "IN_QUEUE") this.note(`IN_QUEUE · position ${status.queue_position}`);
      else if (status.status === "IN_PROGRESS") this.note("IN_PROGRESS · rendering");
    }
    st.status = status.status;
    if (status.status === "IN_QUEUE") st.position = status.queue_position;
    if (status.status === "IN_PROGRESS") st.progress = status.progress ?? st.progress;
    if (status.logs) st.logs = fullLogs ? [...status.logs] : [...st.logs, ...status.logs];
    if (status.status === "COMPLETED") {
      st.metrics = status.metrics || {};
      if (status.error) {
        st.error = { type: status.error_type, message: status.error };
        st.label = status.error_type === "request_cancelled" ? "CANCELLED" : "FAILED";
        this.note(`${st.label} · ${status.error_type}`);
      } else {
        st.progress = 1;
        st.label = "COMPLETED";
        this.note(`COMPLETED · ${st.metrics.inference_time ?? "?"} s`);
      }
    } else {
      st.label = status.status;
    }
    this.changed();
  }

  changed() {
    if (this.entry.status !== this.state.label) {
      this.entry.status = this.state.label;
      updateHistory(this.entry.id, { status: this.state.label });
    }
    if (app.shown === this) renderResult();
  }

  async run() {
    try {
      await api.streamStatus(this.entry.statusUrl, (s) => this.apply(s), this.abort.signal);
    } catch (err) {
      if (this.abort.signal.aborted || this.gaveUp(err)) return;
    }
    // The stream ends after COMPLETED; if it broke off earlier, poll instead.
    while (this.state.status !== "COMPLETED" && !this.abort.signal.aborted) {
      await new Promise((r) => setTimeout(r, POLL_MS));
      try {
        this.apply(await api.getStatus(this.entry.statusUrl), { fullLogs: true });
      } catch (err) {
        if (this.gaveUp(err)) return; // else the server may be restarting: keep trying
      }
    }
    if (!this.abort.signal.aborted) await this.finish();
  }

  /** Stop following on an answer that asking again will not change (a 4xx but 429). */
  gaveUp(err) {
    if (!err.status || err.status === 429 || err.status >= 500) return false;
    this.state.error = { type: err.status === 404 ? "not_found" : `http_${err.status}`, message: err.message };
    if (err.status === 404) this.state.label = "UNKNOWN"; // for good: the server forgot it
    else app.watches.delete(this.entry.id); // a key problem: opening it again retries
    this.changed();
    return true;
  }

  async finish() {
    const st = this.state;
    try {
      st.result = await api.apiJson(this.entry.responseUrl);
    } catch (err) {
      st.error = st.error || { type: err.errorType || "error", message: err.message };
      if (Array.isArray(err.detail)) {
        st.errorDetail = err.detail;
        if (app.shown === this && app.spec?.endpoint_id === this.entry.endpointId) showFieldErrors(err.detail);
      }
    }
    this.changed();
  }
}

function watch(entry, first = null) {
  let w = app.watches.get(entry.id);
  if (!w) {
    w = new Watch(entry);
    app.watches.set(entry.id, w);
    if (first) {
      w.note("submitted");
      w.apply(first);
    }
    w.run();
  }
  return w;
}

// --- the Result tab -------------------------------------------------------------------------

function statusText(st) {
  switch (st.label) {
    case "IN_QUEUE":
      return st.position ? `Queued: ${st.position} ahead of it` : "Queued: next in line";
    case "IN_PROGRESS":
      return `Rendering ${Math.round(st.progress * 100)}%${st.cancelling ? " · cancelling…" : ""}`;
    case "COMPLETED":
      return `Done in ${st.metrics?.inference_time ?? "?"} s`;
    case "CANCELLED":
      return "Cancelled (request_cancelled)";
    default:
      return st.error ? `${st.error.type}` : "";
  }
}

function renderResult() {
  const w = app.shown;
  if (!w) return;
  const st = w.state;
  const terminal = st.status === "COMPLETED" || st.label === "UNKNOWN";
  $("status-badge").textContent = st.label;
  $("status-badge").dataset.status = st.label;
  $("status-text").textContent = `${shortName(w.entry.endpointId)} · ${statusText(st)}`;
  $("cancel").hidden = terminal;
  $("cancel").disabled = Boolean(st.cancelling);
  $("progress").hidden = st.label === "IN_QUEUE";
  $("progress").value = st.progress;
  $("timeline").replaceChildren(
    el("li", {}, el("code", {}, w.entry.id)),
    ...st.timeline.map((t) => el("li", {}, el("time", {}, t.time.toLocaleTimeString()), ` ${t.text}`)),
  );
  const error = $("result-error");
  error.hidden = !st.error;
  if (st.error) {
    const lines = (st.errorDetail || []).map((d) => `${(d.loc || []).slice(1).join(".")}: ${d.msg}`);
    error.textContent = [`${st.error.type}: ${st.error.message}`, ...lines].join("\n");
  }
  const result = st.result || {};
  showPlayer(PLAYERS.video, result.video);
  showPlayer(PLAYERS.audio, result.audio);
  // The rest of the result: an avatar's duration, the seed, warnings.
  const facts = [
    typeof result.duration === "number" ? `duration ${result.duration.toFixed(2)} s` : null,
    result.seed !== undefined && result.seed !== null ? `seed ${result.seed}` : null,
  ].filter(Boolean);
  $("result-facts").hidden = !facts.length && !result.warnings?.length;
  $("result-facts").replaceChildren(facts.join(" · "), ...(result.warnings || []).map((w) => el("span", { class: "warning" }, w)));
  $("logs").textContent = st.logs.map((l) => `${l.timestamp?.slice(11, 23) || ""} ${l.level.padEnd(5)} ${l.message}`).join("\n");
}

/** The result's players: a video (every endpoint but TTS), an audio file (TTS). */
const PLAYERS = {
  video: { box: "video-box", player: "video", link: "download", meta: "video-meta", name: "output.mp4" },
  audio: { box: "audio-box", player: "audio", link: "audio-download", meta: "audio-meta", name: "output.mp3" },
};

/** Show `file` ({url, file_name}) in its player, or empty the player when there is none. */
function showPlayer(ids, file) {
  const url = file?.url;
  const player = $(ids.player);
  $(ids.box).hidden = !url;
  if (url && player.dataset.src !== url) {
    player.dataset.src = url;
    player.src = url;
    $(ids.link).href = url;
    if (ids.player === "audio") $(ids.link).download = file.file_name || ids.name;
    $(ids.meta).textContent = "";
  } else if (!url && player.dataset.src) {
    player.removeAttribute("src");
    delete player.dataset.src;
    player.load();
  }
}

function showRequest(entry) {
  app.shown = watch(entry);
  app.codeBody = entry.body ? { endpointId: entry.endpointId, body: entry.body } : app.codeBody;
  selectTab("result");
  renderResult();
  renderCode();
}

async function cancelShown() {
  const w = app.shown;
  if (!w) return;
  w.state.cancelling = true;
  renderResult();
  try {
    const answer = await api.cancel(w.entry.cancelUrl);
    w.note(`cancel: ${answer.status}`);
  } catch (err) {
    w.state.cancelling = false;
    w.note(`cancel refused: ${err.message}`);
  }
  w.changed();
}

// --- the form -------------------------------------------------------------------------------

function describeLoc(loc) {
  if (loc[0] === "dynamic_masks" && typeof loc[1] === "number") {
    const label = app.dynamicLabels[loc[1]] || `dynamic mask ${loc[1] + 1}`;
    return [label, ...loc.slice(2)].join(" ");
  }
  return loc.join(".");
}

function showFieldErrors(detail) {
  const unclaimed = app.form.showErrors(detail, describeLoc);
  if (unclaimed.length) {
    showFormError(unclaimed.map((d) => `${(d.loc || []).join(".")}: ${d.msg}`).join("\n"));
  }
}

function showFormError(text) {
  $("form-error").hidden = !text;
  $("form-error").textContent = text || "";
}

function clearErrors() {
  app.form.clearErrors();
  showFormError("");
}

function handleApiError(err) {
  if (err.status === 422 && Array.isArray(err.detail)) return showFieldErrors(err.detail);
  // A stale page (or a server whose engines changed) may still submit to one: its reason.
  if (err.errorType === "endpoint_not_served" || err.status === 501) {
    return showFormError(`Not served by this server (HTTP ${err.status}, endpoint_not_served): ${err.message}`);
  }
  if (err.status === 401 || err.status === 403) {
    return showFormError(`${err.message}. This server needs an API key: enter it at the top.`);
  }
  showFormError(err.message || String(err));
}

function selectEndpoint(endpointId) {
  const spec = app.models.find((m) => m.endpoint_id === endpointId) || app.models[0];
  let carried = {};
  try {
    carried = app.form ? app.form.values() : {};
  } catch {
    /* a field that does not parse is not carried */
  }
  app.spec = spec;
  localStorage.setItem(ENDPOINT_KEY, spec.endpoint_id);
  $("endpoint").value = spec.endpoint_id;
  $("endpoint-title").textContent = spec.title;
  const out = spec.output;
  const perSecond = pricePerSecond(spec);
  $("endpoint-meta").replaceChildren(
    el("code", {}, spec.endpoint_id),
    ` · ${KINDS[spec.kind] || spec.kind} · ${out.summary} · `,
    perSecond === null ? "no published price" : `$${perSecond}/s`,
    spec.served ? ` · ${spec.engine} engine` : "",
  );
  showNotServed(spec);
  app.form = new SchemaForm({ main: $("fields"), more: $("more-fields") }, spec.input_schema, {
    onChange: formChanged,
    onImage: (name, src) => app.form?.isStartImage(name) && app.painter.setImage(src),
    serving: servingFor(spec),
  });
  // Keep the prompt and images when switching endpoints (image_url and start_image_url alike).
  const start = carried.image_url ?? carried.start_image_url;
  app.form.restore({ ...carried, image_url: start, start_image_url: start });
  $("brush").hidden = !app.form.hasBrush;
  $("more").hidden = !$("more-fields").children.length;
  for (const name of ["static_mask_url", "dynamic_masks"]) app.form.extraTargets.set(name, $("brush"));
  app.painter.setImage(app.form.startImage());
  app.codeBody = null;
  formChanged();
}

/** An endpoint this server does not serve stays in the picker, with the reason; its form
 * is shown (and its code), but Run is off: the submit could only be refused. */
function showNotServed(spec) {
  const box = $("not-served");
  box.hidden = spec.served;
  box.replaceChildren(
    el("strong", {}, "Not served by this server. "),
    spec.not_served_because || "No engine configured here makes this kind of video.",
    el("span", { class: "then" }, "Run is off here: a submit would be refused. The form and its code still show the request."),
  );
  $("run").disabled = !spec.served;
  $("run").title = spec.served ? "" : "this server does not serve this endpoint";
}

function servingFor(spec) {
  const s = app.serving;
  const engine = s?.endpoints?.[spec.endpoint_id];
  return {
    engine: engine?.engine ?? spec.engine,
    effects: engine?.effects ?? null,
    voices: s?.voices ?? null,
    twoPhotoScenes: s?.two_photo_scenes ?? [],
    storyboardSeconds: s?.storyboard_seconds ?? { min: 1, max: Infinity },
  };
}

/** The result's field holding its file: "video", or "audio" (TTS). */
function resultFile(endpointId) {
  return app.serving?.result_files?.[endpointId] ?? "video";
}

function pricePerSecond(spec) {
  return spec.price?.per_second ?? spec.price_per_second ?? null;
}

let previewTimer = null;
function formChanged() {
  app.codeBody = null;
  updatePrice();
  clearTimeout(previewTimer);
  previewTimer = setTimeout(renderCode, 150);
}

function updatePrice() {
  const perSecond = pricePerSecond(app.spec);
  // Lipsync, avatars and speech have no duration: they last as long as what is said.
  if (!app.form.fields.has("duration") && app.form.seconds() === null) {
    $("price").textContent = perSecond === null ? "no published price" : `$${perSecond} per second of output`;
    return;
  }
  const seconds = app.form.seconds() ?? 5;
  $("price").textContent =
    perSecond === null ? `${seconds} s · no published price` : `≈ $${(perSecond * seconds).toFixed(3)} for ${seconds} s`;
}

/** The body the form would send; the painter's masks as placeholders until uploaded. */
async function previewBody() {
  const body = app.form.values();
  if (app.form.hasBrush) Object.assign(body, await app.painter.fields(await app.painter.collect()));
  return body;
}

async function onSubmit(event) {
  event.preventDefault();
  clearErrors();
  const run = $("run");
  run.disabled = true;
  try {
    let body;
    try {
      body = app.form.values();
    } catch (err) {
      if (err instanceof FieldError) return showFieldErrors([{ loc: err.loc, msg: err.message }]);
      throw err;
    }
    await app.form.uploadsDone();
    Object.assign(body, app.form.values());
    if (app.form.hasBrush) {
      const collected = await app.painter.collect();
      const problems = app.painter.check(collected);
      if (problems.length) return showFieldErrors(problems.map((msg) => ({ loc: ["body", "dynamic_masks"], msg })));
      app.dynamicLabels = collected.dynamic.map((d) => d.label);
      Object.assign(body, await app.painter.fields(collected, api.upload));
    }
    const endpointId = app.spec.endpoint_id;
    const queued = await api.submit(endpointId, body);
    const entry = {
      id: queued.request_id,
      endpointId,
      statusUrl: queued.status_url,
      responseUrl: queued.response_url,
      cancelUrl: queued.cancel_url,
      created: Date.now(),
      prompt: summary(body).slice(0, 120),
      status: queued.status,
      body: JSON.stringify(body).length < 100_000 ? body : null,
    };
    saveHistory([entry, ...loadHistory()]);
    watch(entry, queued);
    showRequest(entry);
  } catch (err) {
    handleApiError(err);
  } finally {
    run.disabled = !app.spec.served;
  }
}

/** A line for the history: the prompt or the text said, a storyboard's shots, or the effect. */
function summary(body) {
  if (body.prompt || body.text) return body.prompt || body.text;
  if (body.multi_prompt) return body.multi_prompt.map((s) => `${s.prompt} (${s.duration} s)`).join(" / ");
  return body.effect_scene ? `effect: ${body.effect_scene}` : "";
}

function reuseRequest(entry) {
  selectEndpoint(entry.endpointId);
  app.form.reset();
  app.form.restore(entry.body);
  formChanged();
}

// --- the Code tab ---------------------------------------------------------------------------

async function renderCode() {
  if ($("tab-code").hidden || !app.spec) return;
  let endpointId = app.spec.endpoint_id;
  let body;
  if (app.codeBody) ({ endpointId, body } = app.codeBody);
  else {
    try {
      body = await previewBody();
    } catch (err) {
      $("code").textContent = `# ${err.message}`;
      return;
    }
  }
  for (const b of $("languages").children) b.setAttribute("aria-selected", b.dataset.language === app.language);
  const spec = app.models.find((m) => m.endpoint_id === endpointId);
  const note = spec && !spec.served ? `This server does not serve ${endpointId}: ${spec.not_served_because || "no engine here makes it"}` : null;
  $("code").textContent = snippet(app.language, location.origin, endpointId, body, Boolean(api.getKey()), note, resultFile(endpointId));
}

// --- wiring ---------------------------------------------------------------------------------

function selectTab(name) {
  for (const b of document.querySelectorAll("[data-tab]")) b.setAttribute("aria-selected", b.dataset.tab === name);
  for (const panel of document.querySelectorAll(".tab")) panel.hidden = panel.id !== `tab-${name}`;
  if (name === "code") renderCode();
}

function setUpKey() {
  const input = $("api-key");
  const show = () => ($("key-state").textContent = api.getKey() ? "stored in this browser" : "");
  input.value = api.getKey();
  show();
  input.addEventListener("change", () => {
    api.setKey(input.value.trim());
    show();
    renderCode();
    if (!app.models.length) loadModels();
  });
  $("key-form").addEventListener("submit", (e) => {
    e.preventDefault();
    input.dispatchEvent(new Event("change"));
  });
  $("key-forget").addEventListener("click", () => {
    input.value = "";
    input.dispatchEvent(new Event("change"));
  });
}

/** The endpoints and their schemas: the page shows "loading" until they are in and their
 * form is built, then "ready"; or why it could not load, with a retry (see loading.js). */
async function loadModels() {
  const signal = loading.begin();
  let models, serving;
  try {
    // The serving details only sharpen the hints (effects, storyboard length): optional.
    [models, serving] = await Promise.all([
      api.apiJson("/models", { signal }),
      api.apiJson("/playground/serving.json", { signal }).catch(() => null),
    ]);
    if (!Array.isArray(models) || !models.length) throw new Error("The server listed no endpoints");
  } catch (err) {
    return loading.failed(err, loadModels);
  }
  [app.models, app.serving] = [models, serving];
  try {
    renderPicker();
    selectEndpoint(localStorage.getItem(ENDPOINT_KEY) || app.models.find((m) => m.served)?.endpoint_id);
  } catch (err) {
    loading.failed(err, loadModels);
    throw err; // a bug of the page: said there, and in the console
  }
  loading.ready();
}

/** The endpoints grouped by kind; those this server does not serve are marked, not hidden. */
function renderPicker() {
  const groups = new Map();
  for (const m of app.models) groups.set(m.kind, [...(groups.get(m.kind) || []), m]);
  const kinds = [...groups.keys()].sort((a, b) => rank(a) - rank(b));
  $("endpoint").replaceChildren(
    ...kinds.map((kind) => {
      const models = groups.get(kind);
      const off = models.filter((m) => !m.served).length;
      const mark = off === 0 ? "" : off === models.length ? " · not served here" : ` · ${off} not served here`;
      const options = models.map((m) => {
        // The group names the kind: "Kling 2.6 (pro) — v2.6/pro", not "... image to video".
        const name = m.endpoint_id.replace(/^fal-ai\/kling-video\//, "").replace(`/${kind}`, "");
        const title = m.title.replace(new RegExp(` ${kind.replace(/-/g, " ")}$`, "i"), "");
        const text = `${m.served ? "" : "⊘ "}${title} — ${name}${m.served ? "" : " (not served)"}`;
        return el("option", { value: m.endpoint_id, title: m.not_served_because || "", "data-served": String(m.served) }, text);
      });
      return el("optgroup", { label: `${KINDS[kind] || kind}${mark}`, "data-kind": kind }, ...options);
    }),
  );
}

function rank(kind) {
  const order = Object.keys(KINDS).indexOf(kind);
  return order < 0 ? Object.keys(KINDS).length : order;
}

function init() {
  app.painter = new Painter($("painter"), {
    onChange: () => {
      clearFieldError($("brush")); // painting is the brush's edit: its errors go, as a typed field's do
      formChanged();
    },
  });
  setUpKey();
  for (const b of document.querySelectorAll("[data-tab]")) b.addEventListener("click", () => selectTab(b.dataset.tab));
  for (const [id, label] of LANGUAGES) {
    const b = el("button", { type: "button", "data-language": id }, label);
    b.addEventListener("click", () => {
      app.language = id;
      renderCode();
    });
    $("languages").append(b);
  }
  $("copy").addEventListener("click", () => navigator.clipboard?.writeText($("code").textContent));
  $("endpoint").addEventListener("change", (e) => selectEndpoint(e.target.value));
  $("form").addEventListener("submit", onSubmit);
  $("reset").addEventListener("click", () => {
    app.form.reset();
    app.painter.clearAll();
    formChanged();
  });
  $("cancel").addEventListener("click", cancelShown);
  $("history-clear").addEventListener("click", () => saveHistory([]));
  $("video").addEventListener("loadedmetadata", (e) => {
    const v = e.target;
    $("video-meta").textContent = `${v.duration.toFixed(2)} s · ${v.videoWidth}×${v.videoHeight}`;
  });
  $("audio").addEventListener("loadedmetadata", (e) => ($("audio-meta").textContent = `${e.target.duration.toFixed(2)} s`));
  renderHistory();
  // Requests still running when the page was last open are followed again.
  for (const entry of loadHistory()) if (["IN_QUEUE", "IN_PROGRESS"].includes(entry.status)) watch(entry);
  loadModels();
}

init();
