// The effect picker for `effect_scene`: a searchable list of Kling's scenes, the ones this
// server's engine renders first (the rest are Kling's, refused here with a 422). Picking one
// tells the image list how many photos it takes: two for the two-person scenes, else one.

import { el, searchable } from "./dom.js";

/** "heart_gesture" -> "Heart gesture". */
export function sceneLabel(scene) {
  const words = scene.replace(/_/g, " ");
  return words.charAt(0).toUpperCase() + words.slice(1);
}

export function effectControl(f, form) {
  const scenes = f.schema.enum;
  const { effects, engine, twoPhotoScenes } = form.serving;
  const twoPhoto = new Set(twoPhotoScenes);
  const rendered = effects ? new Set(effects) : null;
  const photos = (scene) => (twoPhoto.has(scene) ? 2 : 1);

  const option = (scene) =>
    el("option", { value: scene, title: scene }, `${sceneLabel(scene)}${photos(scene) === 2 ? " · 2 photos" : ""}`);
  const select = el("select", { id: f.id, size: 10, class: "effect-list" });
  if (rendered) {
    const here = scenes.filter((s) => rendered.has(s));
    const elsewhere = scenes.filter((s) => !rendered.has(s));
    select.append(
      el("optgroup", { label: `Rendered here (${engine} engine) · ${here.length}` }, ...here.map(option)),
      el("optgroup", { label: `Kling only: refused here · ${elsewhere.length}` }, ...elsewhere.map(option)),
    );
  } else {
    select.append(...scenes.map(option));
  }
  const search = el("input", { type: "search", placeholder: `Search ${scenes.length} effects`, "aria-label": "search effects", class: "effect-search" });
  const matches = el("span", { class: "muted" });
  const hint = el("p", { class: "effect-hint" });

  const sync = () => {
    const scene = select.value;
    const n = photos(scene);
    const refused = rendered && !rendered.has(scene);
    hint.classList.toggle("refused", Boolean(refused));
    hint.textContent = refused
      ? `${scene}: the ${engine} engine does not render this one, so a submit is refused (422). Pick one from “Rendered here”.`
      : `${scene}${engine ? `: rendered by the ${engine} engine` : ""}; takes ${n === 2 ? "2 photos, the two people" : "1 photo"}.`;
    form.fields.get("input_image_urls")?.expect?.(n, `${sceneLabel(scene)} takes ${n === 2 ? "2 photos: the two people" : "1 photo"}`);
  };
  searchable(search, select, matches, (opt) => opt.value, (q) => q.replace(/\s+/g, "_"));
  select.addEventListener("change", sync);

  return {
    control: el("div", { class: "effect-picker" }, el("div", { class: "row" }, search, matches), select, hint),
    get: () => select.value || undefined,
    set: (v) => {
      select.value = scenes.includes(v) ? v : select.options[0]?.value;
      sync();
    },
    linked: sync,
  };
}
