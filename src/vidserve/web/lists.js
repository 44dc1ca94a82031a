// Repeated inputs: lists of image URLs (`input_image_urls`, `image_urls`,
// `reference_image_urls`), of plain strings (`voice_ids`), and `elements` (a frontal image
// with optional reference images). Rows are added and removed within the schema's
// minItems..maxItems; empty rows are left out of the value. The server judges the rest.

import { el } from "./dom.js";
import { imageInput } from "./media.js";

let serial = 0; // ids stay unique as rows come and go

/** A list of rows, each made by `makeRow(key, label) -> {control, get, set, filled,
 * relabel?}` (`label`: the row's name when made; `relabel` renames it when rows move).
 * `rowLabel(i)` names row i ("Image 1", "@Image1"); `noun` counts them ("image"). */
function rowList({ min = 0, max = Infinity, keep = Math.max(min, 1), makeRow, rowLabel, noun, addLabel, onChange }) {
  const rows = [];
  const list = el("ol", { class: "rows" });
  const add = el("button", { type: "button", class: "add" }, `+ ${addLabel}`);
  const count = el("span", { class: "count" });
  const hint = el("span", { class: "hint" });
  const floor = keep; // rows always shown: an empty one invites a value and sends nothing
  let expected = null;

  const plural = (n) => `${n} ${noun}${n === 1 ? "" : "s"}`;
  const refresh = () => {
    rows.forEach((row, i) => {
      row.tag.textContent = rowLabel(i);
      row.node.dataset.index = i;
      row.input.relabel?.(rowLabel(i));
      row.remove.title = rows.length > floor ? `remove ${rowLabel(i)}` : `clear ${rowLabel(i)}`;
    });
    add.disabled = rows.length >= max;
    const filled = rows.filter((r) => r.input.filled()).length;
    const range = max === Infinity ? (min ? `at least ${min}` : "any number") : min ? `${min}–${max}` : `up to ${max}`;
    count.textContent = expected !== null ? `${filled} of ${plural(expected)}` : `${plural(filled)} (${range})`;
    const off = expected !== null ? filled !== expected : filled < min || filled > max;
    count.classList.toggle("off", off && filled > 0);
  };
  const append = (value) => {
    const key = `r${++serial}`;
    const input = makeRow(key, rowLabel(rows.length));
    const tag = el("span", { class: "tag" });
    const remove = el("button", { type: "button", class: "remove", "aria-label": "remove" }, "✕");
    const node = el("li", { class: "list-row" }, tag, input.control, remove);
    const row = { node, input, tag, remove };
    remove.addEventListener("click", () => {
      if (rows.length > floor) {
        rows.splice(rows.indexOf(row), 1);
        node.remove();
      } else input.set(undefined);
      refresh();
      onChange();
    });
    rows.push(row);
    list.append(node);
    if (value !== undefined) input.set(value);
    return row;
  };
  add.addEventListener("click", () => {
    append().node.querySelector("input, textarea")?.focus();
    refresh();
    onChange();
  });
  list.addEventListener("input", refresh);
  list.addEventListener("change", refresh);

  const api = {
    control: el("div", { class: "list" }, list, el("div", { class: "list-foot" }, add, count, hint)),
    get: () => {
      const values = rows.map((r) => r.input.get()).filter((v) => v !== undefined);
      return values.length ? values : undefined;
    },
    set: (values) => {
      rows.splice(0).forEach((r) => r.node.remove());
      const given = Array.isArray(values) ? values : [];
      given.forEach((v) => append(v));
      while (rows.length < Math.max(floor, expected ?? 0)) append();
      refresh();
    },
    /** Expect `n` rows (an effect's photo count): rows are added up to it and empty ones
     * beyond it dropped; `text` says why. null: back to the schema's range. */
    expect: (n, text = "") => {
      expected = n;
      hint.textContent = text;
      if (n !== null) {
        while (rows.length < Math.min(n, max)) append();
        for (let i = rows.length - 1; i >= Math.max(n, floor); i--) {
          if (rows[i].input.filled()) continue;
          rows[i].node.remove();
          rows.splice(i, 1);
        }
      }
      refresh();
    },
    refresh,
  };
  return api;
}

function itemsBounds(s) {
  return { min: s.minItems ?? 0, max: s.maxItems ?? Infinity };
}

/** A list of image URLs: each row an image input (upload, file picker, drop, URL). */
export function imageListControl(f, form) {
  const prefix = f.name === "image_urls" ? "@Image" : "Image ";
  return rowList({
    ...itemsBounds(f.schema),
    noun: "image",
    addLabel: "Add image",
    rowLabel: (i) => `${prefix}${i + 1}`,
    makeRow: (key, label) => imageInput({ id: `${f.id}-${key}`, name: `${f.name}.${key}`, label }, form, { compact: true }),
    onChange: () => form.emit("change"),
  });
}

/** A list of plain strings (`voice_ids`): one text box a row. */
export function stringListControl(f, form) {
  const voices = f.name === "voice_ids"; // named in the prompt as <<<voice_1>>>, ...
  return rowList({
    ...itemsBounds(f.schema),
    noun: voices ? "voice" : "value",
    addLabel: voices ? "Add voice" : "Add",
    rowLabel: (i) => (voices ? `voice_${i + 1}` : `${i + 1}`),
    makeRow: (key) => {
      const input = el("input", { type: "text", id: `${f.id}-${key}`, class: "url" });
      return {
        control: input,
        get: () => input.value.trim() || undefined,
        set: (v) => (input.value = v ?? ""),
        filled: () => Boolean(input.value.trim()),
      };
    },
    onChange: () => form.emit("change"),
  });
}

/** One element: its frontal image, 0-3 reference images, and a voice where the schema
 * has one. A video element (`video_url`) is left out: vidserve decodes no video inputs. */
function elementGroup(f, form, key, item) {
  const props = item.properties || {};
  const frontal = imageInput({ id: `${f.id}-${key}-frontal`, name: `${f.name}.${key}.frontal`, label: "frontal image" }, form, { compact: true });
  const refSchema = props.reference_image_urls ? form.resolve(props.reference_image_urls) : { maxItems: 3 };
  const references = rowList({
    min: 0,
    max: refSchema.maxItems ?? 3,
    keep: 0,
    noun: "reference image",
    addLabel: "Add reference image",
    rowLabel: (i) => `Ref ${i + 1}`,
    makeRow: (k, label) => imageInput({ id: `${f.id}-${key}-${k}`, name: `${f.name}.${key}.${k}`, label }, form, { compact: true }),
    onChange: () => form.emit("change"),
  });
  references.set([]);
  const voice = props.voice_id ? el("input", { type: "text", class: "url", "aria-label": "voice id", placeholder: "from create-voice (optional)" }) : null;
  const part = (name, title, node) => el("div", { class: "part", "data-part": name }, el("span", { class: "part-label" }, title), node);
  const control = el(
    "div",
    { class: "element" },
    part("frontal", "Frontal image", frontal.control),
    part("references", "Other angles", references.control),
    voice && part("voice", "Voice id", voice),
  );
  return {
    control,
    get: () => {
      const value = {};
      if (frontal.get()) value.frontal_image_url = frontal.get();
      if (references.get()) value.reference_image_urls = references.get();
      if (voice?.value.trim()) value.voice_id = voice.value.trim();
      return Object.keys(value).length ? value : undefined;
    },
    set: (v) => {
      frontal.set(v?.frontal_image_url);
      references.set(v?.reference_image_urls || []);
      if (voice) voice.value = v?.voice_id ?? "";
    },
    filled: () => frontal.filled() || Boolean(references.get()),
  };
}

/** `elements`: a repeated group, each referenced in the prompt as @Element1, @Element2, ... */
export function elementsControl(f, form) {
  const item = form.resolve(f.schema.items || {});
  return rowList({
    ...itemsBounds(f.schema),
    noun: "element",
    addLabel: "Add element",
    rowLabel: (i) => `@Element${i + 1}`,
    makeRow: (key) => elementGroup(f, form, key, item),
    onChange: () => form.emit("change"),
  });
}

/** "image 2", "element 1 frontal_image_url", ...: where in a list a 422 points. */
export function describeListLoc(name, rest) {
  const [i, part, j] = rest;
  if (typeof i !== "number") return null;
  if (name === "elements") {
    if (part === "reference_image_urls" && typeof j === "number") return `@Element${i + 1} reference image ${j + 1}`;
    return [`@Element${i + 1}`, ...rest.slice(1)].join(" ");
  }
  if (name === "image_urls") return `@Image${i + 1}`;
  return name === "voice_ids" ? `voice ${i + 1}` : `image ${i + 1}`;
}
