// A form generated from an endpoint's JSON schema (as GET /models gives it): enums become
// selects, bounded numbers sliders with their limits, `*_url` strings file inputs (drop,
// file picker or URL, uploaded through the storage API: images, or audio for `audio_url`
// and video for `video_url`), lists of images rows of such inputs, `elements` repeated
// groups, camera_control a camera widget, effect_scene and voice_id searchable pickers,
// multi_prompt a storyboard editor (either it or prompt: the form switches), and text with
// a maxLength a live count of its characters. Values equal to their default are left out
// of the body, so the request stays minimal.

import { el } from "./dom.js";
import { effectControl } from "./effects.js";
import { describeListLoc, elementsControl, imageListControl, stringListControl } from "./lists.js";
import { mediaInput, mediumOf } from "./media.js";
import { storyboardControl } from "./storyboard.js";
import { voiceControl } from "./voices.js";

/** The motion brush's fields: painted, not typed (see painter.js). */
export const BRUSH_FIELDS = ["static_mask_url", "dynamic_masks"];
const START_IMAGE_FIELDS = ["image_url", "start_image_url"];
const MAIN_KINDS = ["image", "audio", "video", "images", "elements", "effect", "voice", "storyboard", "select", "camera"];
/** What the page knows of the engine when the server does not say (an operator's engine). */
const UNKNOWN_SERVING = { engine: null, effects: null, voices: null, twoPhotoScenes: [], storyboardSeconds: { min: 1, max: Infinity } };

function deref(schema, root) {
  while (schema && schema.$ref) {
    schema = schema.$ref
      .replace(/^#\//, "")
      .split("/")
      .reduce((node, key) => node[key], root);
  }
  return schema || {};
}

/** A property with `$ref` and `anyOf: [X, null]` resolved; the outer title, description
 * and default kept. */
export function resolveProperty(prop, root) {
  let inner = deref(prop, root);
  let nullable = false;
  if (inner.anyOf) {
    const options = inner.anyOf.filter((s) => s.type !== "null");
    nullable = options.length < inner.anyOf.length;
    if (options.length === 1) inner = deref(options[0], root);
  }
  return { ...inner, title: prop.title, description: prop.description, default: prop.default, nullable };
}

function humanize(name) {
  const words = name.replace(/_url$/, "").replace(/_/g, " ");
  return words.charAt(0).toUpperCase() + words.slice(1);
}

function kindOf(name, s, props, root) {
  // camera_control is an object on image-to-video, a preset enum on v1 text-to-video.
  if (name === "camera_control" && s.properties?.type) return "camera";
  if (name === "advanced_camera_control" && props.camera_control && resolveProperty(props.camera_control, root).properties) {
    return null; // the camera widget makes the same move
  }
  if (BRUSH_FIELDS.includes(name)) return null; // the painter's
  if (name === "effect_scene" && s.enum) return "effect";
  if (name === "voice_id" && s.enum) return "voice";
  if (s.enum) return "select";
  if (s.type === "array") {
    const item = deref(s.items || {}, root);
    if (name === "multi_prompt" && item.properties?.prompt) return "storyboard";
    if (item.properties?.frontal_image_url) return "elements";
    if (item.type === "string") return name.endsWith("_urls") ? "images" : "strings";
    return "json";
  }
  if (s.type === "boolean") return "checkbox";
  if (s.type === "string" && name.endsWith("_url")) return mediumOf(name); // image, audio, video
  if (s.type === "number" || s.type === "integer") {
    const bounded = s.minimum !== undefined && s.maximum !== undefined;
    return bounded && s.maximum - s.minimum <= 1000 ? "slider" : "number";
  }
  if (s.type === "string") return name.includes("prompt") || name === "text" || (s.maxLength || 0) > 500 ? "textarea" : "text";
  return "json";
}

function same(a, b) {
  return JSON.stringify(a) === JSON.stringify(b);
}

class FieldError extends Error {
  constructor(name, message) {
    super(message);
    this.loc = ["body", name];
  }
}

// --- one builder per kind: each returns {control, get, set} ---------------------------------

function textControl(f) {
  const input = f.kind === "textarea" ? el("textarea", { rows: f.name === "text" ? 2 : 3 }) : el("input", { type: "text" });
  input.id = f.id;
  const max = f.schema.maxLength;
  const counter = max ? characterCount(input, max) : null;
  return {
    control: counter ? el("div", { class: "counted" }, input, counter.node) : input,
    get: () => {
      const v = input.value;
      if (v !== "") return v;
      // Empty means "not given" unless the default is something else worth overriding.
      return f.required || !f.schema.default ? undefined : "";
    },
    set: (v) => {
      input.value = v ?? "";
      counter?.update();
    },
  };
}

/** "37/120 characters" under a text with a maxLength, live; past it, how far past. Typing
 * on is allowed: the server judges (its 422 then shows here too). */
function characterCount(input, max) {
  const node = el("span", { class: "chars", "aria-live": "polite" });
  const update = () => {
    const n = [...input.value].length; // characters, as the server counts them, not UTF-16 units
    const over = n - max;
    node.textContent = over > 0 ? `${n}/${max} characters: ${over} over the limit of ${max}` : `${n}/${max} characters`;
    node.classList.toggle("over", over > 0);
  };
  input.addEventListener("input", update);
  update();
  return { node, update };
}

function selectControl(f) {
  const select = el("select", { id: f.id });
  const values = [...f.schema.enum];
  const key = (v) => (typeof v === "string" ? v : JSON.stringify(v)); // option values are text
  if (f.schema.nullable) select.append(el("option", { value: "" }, f.schema.noneLabel || "(none)"));
  for (const v of values) select.append(el("option", { value: key(v) }, String(v)));
  return {
    control: select,
    get: () => values.find((v) => key(v) === select.value),
    set: (v) => {
      const found = values.find((x) => same(x, v));
      select.value = found !== undefined ? key(found) : f.schema.nullable ? "" : key(values[0]);
    },
  };
}

function sliderControl(f) {
  const s = f.schema;
  const step = s.type === "integer" ? 1 : (s.maximum - s.minimum) / 100;
  const range = el("input", { type: "range", min: s.minimum, max: s.maximum, step, "aria-label": `${f.name} slider` });
  // The number box takes any value: the server, not the page, is the judge (its 422 shows here).
  const number = el("input", { type: "number", id: f.id, step: "any", class: "slider-value" });
  range.addEventListener("input", () => {
    number.value = range.value;
    number.dispatchEvent(new Event("input", { bubbles: true }));
  });
  number.addEventListener("input", () => (range.value = number.value));
  const limits = el("span", { class: "limits" }, `${s.minimum} … ${s.maximum}`);
  return {
    control: el("div", { class: "slider" }, range, number, limits),
    get: () => (number.value === "" ? undefined : Number(number.value)),
    set: (v) => {
      number.value = v ?? "";
      range.value = v ?? s.minimum;
    },
  };
}

function numberControl(f) {
  const input = el("input", { type: "number", id: f.id, step: f.schema.type === "integer" ? 1 : "any" });
  if (f.schema.nullable) input.placeholder = "random";
  return {
    control: input,
    get: () => (input.value === "" ? undefined : Number(input.value)),
    set: (v) => (input.value = v ?? ""),
  };
}

function checkboxControl(f) {
  const input = el("input", { type: "checkbox", id: f.id });
  return { control: input, get: () => input.checked, set: (v) => (input.checked = Boolean(v)) };
}

function jsonControl(f) {
  const input = el("textarea", { id: f.id, rows: 3, class: "mono", placeholder: "JSON" });
  return {
    control: input,
    get: () => {
      if (!input.value.trim()) return undefined;
      try {
        return JSON.parse(input.value);
      } catch (err) {
        throw new FieldError(f.name, `not valid JSON: ${err.message}`);
      }
    },
    set: (v) => (input.value = v === undefined || v === null ? "" : JSON.stringify(v)),
  };
}

function mediaControl(f, form) {
  return mediaInput({ id: f.id, name: f.name, medium: f.kind }, form);
}

function cameraControl(f, form) {
  // Kling's camera_control: none, a preset, or 'simple' with exactly one axis moving.
  const control = f.schema;
  const types = deref(control.properties.type, form.root).enum;
  const config = deref(resolveProperty(control.properties.config, form.root), form.root);
  const axes = Object.keys(config.properties);
  const lim = config.properties[axes[0]];
  const type = el("select", { id: f.id, "aria-label": "camera move" }, el("option", { value: "" }, "none (from the prompt)"));
  types.forEach((t) => type.append(el("option", { value: t }, t)));
  const axis = el("select", { "aria-label": "camera axis" }, ...axes.map((a) => el("option", { value: a }, a)));
  const amount = el("input", { type: "range", min: lim.minimum, max: lim.maximum, step: 0.5, value: 5, "aria-label": "camera amount" });
  const shown = el("output", {}, "5");
  const simple = el("div", { class: "camera-simple", hidden: true }, axis, amount, shown);
  const help = el("p", { class: "help" });
  const sync = () => {
    simple.hidden = type.value !== "simple";
    shown.textContent = amount.value;
    const a = config.properties[axis.value];
    help.textContent = type.value === "simple" ? `${axis.value}: ${a.description || ""}` : "";
  };
  for (const node of [type, axis, amount]) node.addEventListener("input", sync);
  sync();
  return {
    control: el("div", { class: "camera" }, el("div", { class: "row" }, type, simple), help),
    get: () => {
      if (!type.value) return undefined;
      if (type.value !== "simple") return { type: type.value };
      return { type: "simple", config: { [axis.value]: Number(amount.value) } };
    },
    set: (v) => {
      type.value = v?.type || "";
      const moving = v?.config && Object.entries(v.config).find(([, n]) => n);
      if (moving) [axis.value, amount.value] = [moving[0], moving[1]];
      sync();
    },
  };
}

const BUILDERS = {
  text: textControl,
  textarea: textControl,
  select: selectControl,
  slider: sliderControl,
  number: numberControl,
  checkbox: checkboxControl,
  json: jsonControl,
  image: mediaControl,
  audio: mediaControl,
  video: mediaControl,
  camera: cameraControl,
  images: imageListControl,
  strings: stringListControl,
  elements: elementsControl,
  effect: effectControl,
  storyboard: storyboardControl,
  voice: voiceControl,
};

/** A nullable boolean (`generate_audio` on some endpoints) is a choice of three: leaving
 * it out lets the endpoint decide. */
function tristate(s) {
  return { ...s, enum: [true, false], noneLabel: "(endpoint default)" };
}

const LIST_KINDS = ["images", "strings", "elements"];
/** The fields only one of which is sent: the other is hidden and its errors shown here. */
const EITHER = { prompt: "multi_prompt", multi_prompt: "prompt" };

/** The form of one endpoint: fields in schema order, values, and 422 errors by field. */
export class SchemaForm {
  /** `main` takes the prompt, the required fields, images, choices, the camera, effect and
   * storyboard; `more` the rest.
   * `serving`: what the engine here renders ({engine, effects, voices, twoPhotoScenes,
   * storyboardSeconds}), for the effect and voice pickers and the storyboard's hints. */
  constructor({ main, more }, schema, { onChange, onImage, serving = null }) {
    this.root = schema;
    this.serving = { ...UNKNOWN_SERVING, ...(serving || {}) };
    this.fields = new Map();
    this.extraTargets = new Map(); // field name -> element showing its errors (the painter)
    this.pending = new Set(); // uploads in flight
    this.handlers = { change: onChange, image: onImage };
    const required = new Set(schema.required || []);
    const props = schema.properties || {};
    main.replaceChildren();
    more.replaceChildren();
    for (const [name, prop] of Object.entries(props)) {
      let s = resolveProperty(prop, schema);
      if (s.type === "boolean" && s.nullable) s = tristate(s);
      const kind = kindOf(name, s, props, schema);
      if (!kind) continue;
      const f = { name, kind, schema: s, required: required.has(name), id: `field-${name}` };
      Object.assign(f, BUILDERS[kind](f, this));
      f.el = this.wrap(f, s);
      (f.required || name === "prompt" || MAIN_KINDS.includes(kind) ? main : more).append(f.el);
      this.fields.set(name, f);
      f.set(s.default);
    }
    for (const f of this.fields.values()) f.linked?.(); // fields that steer others (effect -> images)
    for (const container of [main, more]) {
      container.addEventListener("input", () => this.emit("change"));
      container.addEventListener("change", () => this.emit("change"));
    }
    this.hasBrush = BRUSH_FIELDS.some((n) => n in props);
    // What to make comes first: the prompt (or storyboard), whatever the schema's order;
    // on the talking endpoints, the face and the voice (an avatar's prompt is a nudge).
    const prompt = this.fields.get("prompt");
    const talking = [...this.fields.values()].some((f) => f.kind === "audio" || f.kind === "video");
    if (prompt && !talking) main.prepend(prompt.el);
    this.setUpStoryboard();
  }

  emit(what, ...args) {
    if (what === "change") this.syncDuration();
    this.handlers[what]?.(...args);
  }

  /** A property of this form's schema with `$ref` and `anyOf: [X, null]` resolved. */
  resolve(prop) {
    return resolveProperty(prop, this.root);
  }

  /** `prompt` and `multi_prompt` are either/or: a switch shows one, and only it is sent. */
  setUpStoryboard() {
    const prompt = this.fields.get("prompt");
    const board = this.fields.get("multi_prompt");
    if (!prompt || !board) return;
    this.modeButtons = [
      ["prompt", "One prompt"],
      ["multi_prompt", "Storyboard"],
    ].map(([mode, text]) => {
      const b = el("button", { type: "button", "data-mode": mode }, `${text} `, el("code", {}, mode));
      b.addEventListener("click", () => {
        this.setMode(mode);
        this.emit("change");
      });
      return b;
    });
    const note = el("span", { class: "help" }, "either one prompt or a storyboard of shots is sent, never both");
    prompt.el.before(el("div", { class: "mode-switch", role: "group", "aria-label": "prompt or storyboard" }, ...this.modeButtons, note));
    prompt.el.after(board.el);
    const durationField = this.fields.get("duration");
    if (durationField) {
      this.durationNote = el("p", { class: "mode-note", hidden: true });
      durationField.control.after(this.durationNote);
    }
    this.setMode("prompt");
  }

  /** "prompt" or "multi_prompt": which of the two the form shows and sends. */
  setMode(mode) {
    if (!this.modeButtons) return;
    const prompt = this.fields.get("prompt");
    const board = this.fields.get("multi_prompt");
    if (mode === "multi_prompt" && this.mode === "prompt") board.seed(prompt.get());
    this.mode = mode;
    prompt.active = mode === "prompt";
    board.active = !prompt.active;
    prompt.el.hidden = !prompt.active;
    board.el.hidden = !board.active;
    for (const b of this.modeButtons) b.setAttribute("aria-pressed", String(b.dataset.mode === mode));
    this.syncDuration();
  }

  /** A storyboard lasts as long as its shots: `duration` is then left out and says so. */
  syncDuration() {
    const d = this.fields.get("duration");
    if (!d || !this.durationNote) return;
    const story = this.mode === "multi_prompt";
    d.active = !story;
    d.control.hidden = story;
    this.durationNote.hidden = !story;
    if (story) this.durationNote.textContent = `${this.seconds()} s: the storyboard's total (its shots set the duration; none is sent)`;
  }

  /** The video's length in seconds as the form stands. */
  seconds() {
    if (this.mode === "multi_prompt") return this.fields.get("multi_prompt").seconds();
    const d = this.fields.get("duration");
    const v = d ? (d.get() ?? d.schema.default) : undefined;
    return v === undefined ? null : Number(v);
  }

  wrap(f, s) {
    const label = el("label", { for: f.id }, s.title && !s.title.includes("Url") ? s.title : humanize(f.name));
    if (f.required) label.append(el("span", { class: "req", title: "required" }, " *"));
    const node = el("div", { class: `field kind-${f.kind}`, "data-field": f.name }, el("div", { class: "label-row" }, label, el("code", {}, f.name)), f.control);
    if (s.description) node.append(el("p", { class: "help" }, s.description));
    node.append(el("p", { class: "field-error", role: "alert", hidden: true }));
    clearOnEdit(node);
    return node;
  }

  /** The start image's displayable source (a local object URL or the typed URL). */
  startImage() {
    const f = START_IMAGE_FIELDS.map((n) => this.fields.get(n)).find(Boolean);
    return f ? f.src() : null;
  }

  isStartImage(name) {
    return START_IMAGE_FIELDS.includes(name);
  }

  /** The request body (defaults left out); throws FieldError for a field it cannot read. */
  values() {
    const body = {};
    for (const f of this.fields.values()) {
      if (f.active === false) continue; // the other of an either/or pair
      const v = f.get();
      if (v === undefined) continue;
      if (!f.required && same(v, f.schema.default)) continue;
      body[f.name] = v;
    }
    return body;
  }

  /** Carry values over from another form (fields of the same name). */
  restore(values) {
    for (const [name, v] of Object.entries(values)) this.fields.get(name)?.set(v);
    this.setMode(values.multi_prompt?.length ? "multi_prompt" : "prompt");
  }

  reset() {
    for (const f of this.fields.values()) f.set(f.schema.default);
    this.setMode("prompt");
    this.clearErrors();
  }

  async uploadsDone() {
    await Promise.allSettled([...this.pending]);
  }

  clearErrors() {
    for (const node of document.querySelectorAll(".field-error")) {
      node.hidden = true;
      node.textContent = "";
      node.closest("[data-field]")?.classList.remove("invalid");
    }
  }

  /** Put each FastAPI-style error (`{loc: ["body", field, ...], msg}`) next to its field;
   * returns the errors no field claimed. */
  showErrors(detail, describe = (loc) => loc.join(".")) {
    const unclaimed = [];
    for (const err of detail) {
      const loc = Array.isArray(err.loc) ? err.loc : [];
      const name = loc[0] === "body" ? loc[1] : undefined;
      let f = this.fields.get(name);
      if (f?.active === false && EITHER[name]) f = this.fields.get(EITHER[name]); // the one on screen
      const target = f?.el || this.extraTargets.get(name);
      if (!target) {
        unclaimed.push(err);
        continue;
      }
      const box = target.querySelector(".field-error");
      const rest = loc.slice(2);
      const inList = f?.describe?.(rest) ?? (LIST_KINDS.includes(f?.kind) ? describeListLoc(name, rest) : null);
      const where = rest.length ? `${inList ?? describe(loc.slice(1))}: ` : "";
      box.append(el("span", {}, `${where}${err.msg}`));
      box.hidden = false;
      target.classList.add("invalid");
      const details = target.closest("details");
      if (details) details.open = true;
    }
    return unclaimed;
  }
}

/** Hide the errors shown on `target` (a field, or the motion brush's box). */
export function clearFieldError(target) {
  const box = target.querySelector(".field-error");
  box.hidden = true;
  box.textContent = "";
  target.classList.remove("invalid");
}

/** A field's errors go as soon as it is edited (an input or change inside it), without
 * waiting for the next submit; the other fields' errors stay. */
function clearOnEdit(target) {
  const clear = () => target.classList.contains("invalid") && clearFieldError(target);
  target.addEventListener("input", clear);
  target.addEventListener("change", clear);
}

export { FieldError };
