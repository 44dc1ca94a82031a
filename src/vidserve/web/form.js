// A form generated from an endpoint's JSON schema (as GET /models gives it): enums become
// selects, bounded numbers sliders with their limits, `*_url` strings image inputs (drop,
// file picker or URL, uploaded through the storage API), camera_control a camera widget.
// Values equal to their default are left out of the body, so the request stays minimal.

import { upload } from "./api.js";
import { el } from "./dom.js";

/** The motion brush's fields: painted, not typed (see painter.js). */
export const BRUSH_FIELDS = ["static_mask_url", "dynamic_masks"];
const START_IMAGE_FIELDS = ["image_url", "start_image_url"];
const MAIN_KINDS = ["image", "select", "camera"];

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

function kindOf(name, s, props) {
  if (name === "camera_control") return "camera";
  if (name === "advanced_camera_control" && props.camera_control) return null; // same move
  if (BRUSH_FIELDS.includes(name)) return null; // the painter's
  if (s.enum) return "select";
  if (s.type === "boolean") return "checkbox";
  if (s.type === "string" && name.endsWith("_url")) return "image";
  if (s.type === "number" || s.type === "integer") {
    const bounded = s.minimum !== undefined && s.maximum !== undefined;
    return bounded && s.maximum - s.minimum <= 1000 ? "slider" : "number";
  }
  if (s.type === "string") return name.includes("prompt") || (s.maxLength || 0) > 500 ? "textarea" : "text";
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
  const input = f.kind === "textarea" ? el("textarea", { rows: 3 }) : el("input", { type: "text" });
  input.id = f.id;
  return {
    control: input,
    get: () => {
      const v = input.value;
      if (v !== "") return v;
      // Empty means "not given" unless the default is something else worth overriding.
      return f.required || !f.schema.default ? undefined : "";
    },
    set: (v) => (input.value = v ?? ""),
  };
}

function selectControl(f) {
  const select = el("select", { id: f.id });
  const values = [...f.schema.enum];
  const key = (v) => (typeof v === "string" ? v : JSON.stringify(v)); // option values are text
  if (f.schema.nullable) select.append(el("option", { value: "" }, "(none)"));
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

function imageControl(f, form) {
  const url = el("input", { type: "url", id: f.id, placeholder: "https://… or drop a file", class: "url" });
  const file = el("input", { type: "file", accept: "image/png,image/jpeg,image/webp", hidden: true });
  const state = el("span", { class: "upload-state" });
  const preview = el("img", { class: "thumb", alt: "", hidden: true });
  const pick = el("button", { type: "button", class: "link" }, "choose a file");
  const drop = el("div", { class: "drop" }, preview, el("span", {}, "Drop an image here, or ", pick));
  let localSrc = null; // an object URL of the picked file: the painter paints on it

  const show = (src) => {
    preview.hidden = !src;
    if (src) preview.src = src;
    form.emit("image", f.name, src);
  };
  const take = async (blob) => {
    if (localSrc) URL.revokeObjectURL(localSrc);
    localSrc = URL.createObjectURL(blob);
    show(localSrc);
    url.value = "";
    state.textContent = "uploading…";
    state.className = "upload-state busy";
    const job = upload(blob, blob.name || "image.png");
    form.pending.add(job);
    try {
      url.value = await job;
      state.textContent = `uploaded ${(blob.size / 1024).toFixed(0)} KB`;
      state.className = "upload-state done";
    } catch (err) {
      state.textContent = `upload failed: ${err.message}`;
      state.className = "upload-state failed";
    } finally {
      form.pending.delete(job);
      form.emit("change");
    }
  };
  pick.addEventListener("click", () => file.click());
  file.addEventListener("change", () => file.files[0] && take(file.files[0]));
  url.addEventListener("change", () => {
    localSrc = null;
    state.textContent = "";
    show(url.value.trim() || null);
  });
  drop.addEventListener("dragover", (e) => {
    e.preventDefault();
    drop.classList.add("over");
  });
  drop.addEventListener("dragleave", () => drop.classList.remove("over"));
  drop.addEventListener("drop", (e) => {
    e.preventDefault();
    drop.classList.remove("over");
    const dropped = e.dataTransfer.files[0];
    if (dropped) take(dropped);
    else if (e.dataTransfer.getData("text/uri-list")) {
      url.value = e.dataTransfer.getData("text/uri-list").split("\n")[0];
      url.dispatchEvent(new Event("change"));
    }
  });
  return {
    control: el("div", { class: "image-input" }, drop, el("div", { class: "row" }, url, state), file),
    get: () => url.value.trim() || undefined,
    set: (v) => {
      url.value = v ?? "";
      localSrc = null;
      state.textContent = "";
      show(v || null);
    },
    src: () => localSrc || url.value.trim() || null,
  };
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
  image: imageControl,
  camera: cameraControl,
};

/** The form of one endpoint: fields in schema order, values, and 422 errors by field. */
export class SchemaForm {
  /** `main` takes the required fields, images, choices and the camera; `more` the rest. */
  constructor({ main, more }, schema, { onChange, onImage }) {
    this.root = schema;
    this.fields = new Map();
    this.extraTargets = new Map(); // field name -> element showing its errors (the painter)
    this.pending = new Set(); // uploads in flight
    this.handlers = { change: onChange, image: onImage };
    const required = new Set(schema.required || []);
    const props = schema.properties || {};
    main.replaceChildren();
    more.replaceChildren();
    for (const [name, prop] of Object.entries(props)) {
      const s = resolveProperty(prop, schema);
      const kind = kindOf(name, s, props);
      if (!kind) continue;
      const f = { name, kind, schema: s, required: required.has(name), id: `field-${name}` };
      Object.assign(f, BUILDERS[kind](f, this));
      f.el = this.wrap(f, s);
      (f.required || MAIN_KINDS.includes(kind) ? main : more).append(f.el);
      this.fields.set(name, f);
      f.set(s.default);
    }
    for (const container of [main, more]) {
      container.addEventListener("input", () => this.emit("change"));
      container.addEventListener("change", () => this.emit("change"));
    }
    this.hasBrush = BRUSH_FIELDS.some((n) => n in props);
  }

  emit(what, ...args) {
    this.handlers[what]?.(...args);
  }

  wrap(f, s) {
    const label = el("label", { for: f.id }, s.title && !s.title.includes("Url") ? s.title : humanize(f.name));
    if (f.required) label.append(el("span", { class: "req", title: "required" }, " *"));
    const node = el("div", { class: `field kind-${f.kind}`, "data-field": f.name }, el("div", { class: "label-row" }, label, el("code", {}, f.name)), f.control);
    if (s.description) node.append(el("p", { class: "help" }, s.description));
    node.append(el("p", { class: "field-error", role: "alert", hidden: true }));
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
  }

  reset() {
    for (const f of this.fields.values()) f.set(f.schema.default);
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
      const target = this.fields.get(name)?.el || this.extraTargets.get(name);
      if (!target) {
        unclaimed.push(err);
        continue;
      }
      const box = target.querySelector(".field-error");
      const where = loc.length > 2 ? `${describe(loc.slice(1))}: ` : "";
      box.append(el("span", {}, `${where}${err.msg}`));
      box.hidden = false;
      target.classList.add("invalid");
      const details = target.closest("details");
      if (details) details.open = true;
    }
    return unclaimed;
  }
}

export { FieldError };
