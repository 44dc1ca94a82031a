// One image input: drop a file, pick one, or type a URL. A file is uploaded through the
// storage API at once and its URL put in the field, so the request carries URLs only.
// Used alone (`image_url`, `start_image_url`, ...) and as a row of the image lists.

import { upload } from "./api.js";
import { el } from "./dom.js";

const ACCEPT = "image/png,image/jpeg,image/webp";

/** An image input for `name` (the `<input type=url>` gets `id`). `form` receives its
 * uploads (`form.pending`) and events: "image" (name, displayable src) and "change".
 * `compact`: one row (thumbnail, URL, file button), for lists. Returns
 * {control, get, set, src, relabel, filled}. */
export function imageInput({ id, name, label = null }, form, { compact = false } = {}) {
  const url = el("input", { type: "url", id, placeholder: "https://… or drop a file", class: "url" });
  if (label) url.setAttribute("aria-label", label);
  const file = el("input", { type: "file", accept: ACCEPT, hidden: true, "aria-label": `${label || name} file` });
  const state = el("span", { class: "upload-state" });
  const preview = el("img", { class: "thumb", alt: "", hidden: true });
  const pick = el("button", { type: "button", class: "link" }, "choose a file");
  let localSrc = null; // an object URL of the picked file: the painter paints on it

  const show = (src) => {
    preview.hidden = !src;
    if (src) preview.src = src;
    form.emit("image", name, src);
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

  let control;
  let dropZone;
  if (compact) {
    dropZone = el("div", { class: "drop compact" }, preview, url, el("span", { class: "or" }, "or"), pick, state, file);
    control = dropZone;
  } else {
    dropZone = el("div", { class: "drop" }, preview, el("span", {}, "Drop an image here, or ", pick));
    control = el("div", { class: "image-input" }, dropZone, el("div", { class: "row" }, url, state), file);
  }
  pick.addEventListener("click", () => file.click());
  file.addEventListener("change", () => file.files[0] && take(file.files[0]));
  url.addEventListener("change", () => {
    localSrc = null;
    state.textContent = "";
    show(url.value.trim() || null);
  });
  dropZone.addEventListener("dragover", (e) => {
    e.preventDefault();
    dropZone.classList.add("over");
  });
  dropZone.addEventListener("dragleave", () => dropZone.classList.remove("over"));
  dropZone.addEventListener("drop", (e) => {
    e.preventDefault();
    dropZone.classList.remove("over");
    const dropped = e.dataTransfer.files[0];
    if (dropped) take(dropped);
    else if (e.dataTransfer.getData("text/uri-list")) {
      url.value = e.dataTransfer.getData("text/uri-list").split("\n")[0];
      url.dispatchEvent(new Event("change", { bubbles: true }));
    }
  });
  const set = (v) => {
    url.value = v ?? "";
    localSrc = null;
    state.textContent = "";
    state.className = "upload-state";
    show(v || null);
  };
  return {
    control,
    get: () => url.value.trim() || undefined,
    set,
    src: () => localSrc || url.value.trim() || null,
    relabel: (text) => url.setAttribute("aria-label", text),
    /** Whether the input holds an image or is still uploading one. */
    filled: () => Boolean(url.value.trim() || state.classList.contains("busy")),
  };
}
