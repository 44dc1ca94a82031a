// One file input: an image, an audio clip or a video. Drop a file, pick one, or type a
// URL; a file is uploaded through the storage API at once and its URL put in the field, so
// the request carries URLs only. Used alone (`image_url`, `audio_url`, `video_url`, ...)
// and, for images, as a row of the image lists.

import { upload } from "./api.js";
import { el } from "./dom.js";

/** What each medium accepts, how the drop zone names it, and how it is previewed. */
const MEDIA = {
  image: { accept: "image/png,image/jpeg,image/webp", noun: "an image", file: "image.png" },
  audio: { accept: "audio/*", noun: "an audio file", file: "audio.wav" },
  video: { accept: "video/mp4,video/quicktime", noun: "a video", file: "video.mp4" },
};

/** The medium a `*_url` field takes, by its name: `audio_url`, `video_url`, else an image.
 * (Descriptions are no guide: an image field's may well mention "the video".) */
export function mediumOf(name) {
  const m = /(^|_)(audio|video)_url$/.exec(name);
  return m ? m[2] : "image";
}

/** Whether a file of `type` is one `accept` takes ("audio/*" takes "audio/wav"); a file
 * the browser cannot type is let through: the server judges it. */
function accepts(accept, type) {
  return !type || accept.split(",").some((a) => (a.endsWith("/*") ? type.startsWith(a.slice(0, -1)) : type === a));
}

function previewOf(medium) {
  if (medium === "image") return el("img", { class: "thumb", alt: "" });
  const attrs = { class: `preview ${medium}-preview`, controls: true, preload: "metadata" };
  return medium === "video" ? el("video", { ...attrs, muted: true, playsinline: true }) : el("audio", attrs);
}

/** A file input for `name` (the `<input type=url>` gets `id`); `medium` is "image",
 * "audio" or "video". `form` receives its uploads (`form.pending`) and events: "image"
 * (name, displayable src; images only) and "change". `compact`: one row (thumbnail, URL,
 * file button), for lists. Returns {control, get, set, src, relabel, filled}. */
export function mediaInput({ id, name, label = null, medium = "image" }, form, { compact = false } = {}) {
  const kind = MEDIA[medium];
  const url = el("input", { type: "url", id, placeholder: "https://… or drop a file", class: "url" });
  if (label) url.setAttribute("aria-label", label);
  const file = el("input", { type: "file", accept: kind.accept, hidden: true, "aria-label": `${label || name} file` });
  const state = el("span", { class: "upload-state" });
  const preview = previewOf(medium);
  preview.hidden = true;
  const meta = el("span", { class: "media-meta muted" }); // an audio or video's length (and size)
  const pick = el("button", { type: "button", class: "link" }, "choose a file");
  let localSrc = null; // an object URL of the picked file: the painter paints on it

  if (medium !== "image") {
    preview.addEventListener("loadedmetadata", () => {
      const size = medium === "video" ? ` · ${preview.videoWidth}×${preview.videoHeight}` : "";
      meta.textContent = `${preview.duration.toFixed(2)} s${size}`;
    });
    // A URL that does not play here may still be one the server can fetch: said, not judged.
    preview.addEventListener("error", () => preview.getAttribute("src") && (meta.textContent = "no preview in this browser"));
  }
  const show = (src) => {
    preview.hidden = !src;
    meta.textContent = "";
    if (src) preview.src = src;
    else preview.removeAttribute("src");
    if (medium === "image") form.emit("image", name, src);
  };
  const take = async (blob) => {
    if (!accepts(kind.accept, blob.type)) {
      // A drop skips the picker's filter: a photo dropped where the audio goes stops here.
      state.textContent = `not ${kind.noun} (${blob.type}): ${kind.accept.replace(/,/g, ", ")} here`;
      state.className = "upload-state failed";
      return;
    }
    if (localSrc) URL.revokeObjectURL(localSrc);
    localSrc = URL.createObjectURL(blob);
    show(localSrc);
    url.value = "";
    state.textContent = "uploading…";
    state.className = "upload-state busy";
    const job = upload(blob, blob.name || kind.file);
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
    const words = el("span", { class: "drop-words" }, `Drop ${kind.noun} here, or `, pick);
    dropZone = el("div", { class: `drop drop-${medium}` }, preview, el("div", { class: "drop-text" }, words, meta));
    control = el("div", { class: `media-input ${medium}-input` }, dropZone, el("div", { class: "row" }, url, state), file);
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
    /** Whether the input holds a file or is still uploading one. */
    filled: () => Boolean(url.value.trim() || state.classList.contains("busy")),
  };
}

/** An image input (the lists' rows, the start and end images). */
export function imageInput(f, form, options = {}) {
  return mediaInput({ ...f, medium: "image" }, form, options);
}
