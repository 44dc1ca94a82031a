// The motion brush: paint a static mask and up to 6 dynamic masks over the start image and
// draw each dynamic mask's trajectory. Every layer is a canvas at the image's own resolution,
// so the exported masks (black and white PNGs) match the image pixel for pixel, as Kling
// requires. Trajectory points are kept in image pixels from the top-left and exported in
// Kling's coordinates: integers, origin at the bottom-left.

import { el, svg } from "./dom.js";

const MAX_DYNAMIC = 6;
const MAX_POINTS = 77;
const STATIC_COLOR = "#3b82f6";
const DYNAMIC_COLORS = ["#ef4444", "#f59e0b", "#10b981", "#a855f7", "#ec4899", "#14b8a6"];
const TOOLS = [
  ["brush", "Brush"],
  ["eraser", "Eraser"],
  ["path", "Trajectory"],
];

/** A mask PNG from a layer canvas: white where painted, black elsewhere; null if empty. */
function maskBlob(canvas) {
  const { width, height } = canvas;
  const pixels = canvas.getContext("2d").getImageData(0, 0, width, height);
  const out = new ImageData(width, height);
  let painted = 0;
  for (let i = 3; i < pixels.data.length; i += 4) {
    const on = pixels.data[i] >= 128 ? 255 : 0;
    painted += on;
    out.data[i - 3] = out.data[i - 2] = out.data[i - 1] = on;
    out.data[i] = 255;
  }
  if (!painted) return Promise.resolve(null);
  const mask = el("canvas", { width, height });
  mask.getContext("2d").putImageData(out, 0, 0);
  return new Promise((resolve) => mask.toBlob(resolve, "image/png"));
}

export class Painter {
  constructor(root, { onChange }) {
    this.root = root;
    this.onChange = onChange;
    this.size = { w: 0, h: 0 };
    this.tool = "brush";
    this.brush = 40;
    this.layers = [];
    this.active = null;
    this.build();
  }

  build() {
    this.layerBar = el("div", { class: "layers", role: "group", "aria-label": "mask layers" });
    const tools = el("div", { class: "tools", role: "group", "aria-label": "tools" });
    for (const [tool, label] of TOOLS) {
      const button = el("button", { type: "button", "data-tool": tool }, label);
      button.addEventListener("click", () => this.setTool(tool));
      tools.append(button);
    }
    this.sizeInput = el("input", { type: "range", min: 2, max: 200, value: this.brush, "aria-label": "brush size" });
    this.sizeOut = el("output", {}, String(this.brush));
    this.sizeInput.addEventListener("input", () => {
      this.brush = Number(this.sizeInput.value);
      this.sizeOut.textContent = this.sizeInput.value;
    });
    tools.append(el("label", { class: "size" }, "Size ", this.sizeInput, this.sizeOut));
    const actions = [
      ["undo-point", "Undo point", () => this.undoPoint()],
      ["clear", "Clear layer", () => this.clearLayer()],
      ["remove", "Remove layer", () => this.removeLayer()],
    ];
    for (const [name, label, run] of actions) {
      const button = el("button", { type: "button", "data-action": name }, label);
      button.addEventListener("click", run);
      tools.append(button);
    }
    this.image = el("img", { alt: "start image", draggable: "false" });
    this.canvases = el("div", { class: "canvases" });
    this.overlay = svg("svg", { class: "overlay", preserveAspectRatio: "none" });
    this.cursor = svg("circle", { class: "cursor", r: 0 });
    this.stage = el("div", { class: "stage", hidden: true }, this.image, this.canvases, this.overlay);
    this.placeholder = el("p", { class: "placeholder" }, "Choose a start image to paint on.");
    this.info = el("p", { class: "painter-info", "aria-live": "polite" });
    this.root.replaceChildren(el("div", { class: "painter-bar" }, this.layerBar, tools), this.placeholder, this.stage, this.info);
    this.bindPointer();
    this.addLayer("static");
    this.addLayer("dynamic");
    this.setTool("brush");
  }

  /** Paint on this image (an object URL or a URL); the layers are resized to it. */
  async setImage(src) {
    if (!src) {
      this.loading = (this.loading || 0) + 1;
      this.stage.hidden = true;
      this.placeholder.hidden = false;
      this.placeholder.textContent = "Choose a start image to paint on.";
      return;
    }
    const token = (this.loading = (this.loading || 0) + 1);
    const img = new Image();
    img.src = src;
    try {
      await img.decode();
      if (token !== this.loading) return; // a newer image was chosen meanwhile
    } catch {
      if (token !== this.loading) return;
      this.placeholder.textContent = "The start image could not be shown here; paint needs it.";
      this.stage.hidden = true;
      this.placeholder.hidden = false;
      return;
    }
    const { naturalWidth: w, naturalHeight: h } = img;
    const resized = w !== this.size.w || h !== this.size.h;
    this.size = { w, h };
    this.image.src = src;
    this.stage.style.aspectRatio = `${w} / ${h}`;
    this.overlay.setAttribute("viewBox", `0 0 ${w} ${h}`);
    this.stage.hidden = false;
    this.placeholder.hidden = true;
    this.sizeInput.max = Math.max(20, Math.round(Math.max(w, h) / 3));
    if (resized) {
      for (const layer of this.layers) this.resetLayer(layer);
      // A brush about a sixteenth of the image, whatever its resolution.
      this.brush = Math.round(Math.max(w, h) / 16);
      this.sizeInput.value = this.sizeOut.textContent = String(this.brush);
    }
    this.redraw();
  }

  addLayer(kind) {
    const dynamic = this.layers.filter((l) => l.kind === "dynamic");
    if (kind === "dynamic" && dynamic.length >= MAX_DYNAMIC) return;
    const used = new Set(dynamic.map((l) => l.color));
    const color = kind === "static" ? STATIC_COLOR : DYNAMIC_COLORS.find((c) => !used.has(c));
    const canvas = el("canvas", { width: this.size.w || 1, height: this.size.h || 1 });
    canvas.getContext("2d", { willReadFrequently: true }); // masks are read back on export
    const layer = { kind, color, canvas, points: [] };
    this.layers.push(layer);
    this.canvases.append(canvas);
    this.active = layer;
    this.renderLayerBar();
    this.redraw();
  }

  label(layer) {
    if (layer.kind === "static") return "Static";
    return `Dynamic ${this.layers.filter((l) => l.kind === "dynamic").indexOf(layer) + 1}`;
  }

  renderLayerBar() {
    const buttons = this.layers.map((layer) => {
      const swatch = el("span", { class: "swatch" });
      swatch.style.background = layer.color; // CSSOM, which the page's CSP allows
      const button = el(
        "button",
        { type: "button", "data-layer": this.label(layer).toLowerCase().replace(" ", "-"), "aria-pressed": layer === this.active },
        swatch,
        this.label(layer),
      );
      button.addEventListener("click", () => {
        this.active = layer;
        this.renderLayerBar();
        this.redraw();
      });
      return button;
    });
    const add = el("button", { type: "button", "data-action": "add-dynamic" }, "+ Dynamic");
    add.disabled = this.layers.filter((l) => l.kind === "dynamic").length >= MAX_DYNAMIC;
    add.addEventListener("click", () => this.addLayer("dynamic"));
    this.layerBar.replaceChildren(...buttons, add);
    this.root.querySelector('[data-action="remove"]')?.toggleAttribute("disabled", this.active.kind === "static");
  }

  setTool(tool) {
    this.tool = tool;
    for (const b of this.root.querySelectorAll("[data-tool]")) b.setAttribute("aria-pressed", b.dataset.tool === tool);
    this.stage.dataset.tool = tool;
    this.redraw();
  }

  resetLayer(layer) {
    layer.canvas.width = this.size.w;
    layer.canvas.height = this.size.h;
    layer.points = [];
  }

  /** Back to one empty static and one empty dynamic layer. */
  clearAll() {
    for (const layer of this.layers.slice(2)) layer.canvas.remove();
    this.layers = this.layers.slice(0, 2);
    for (const layer of this.layers) this.resetLayer(layer);
    this.active = this.layers[1];
    this.renderLayerBar();
    this.changed();
  }

  clearLayer() {
    this.resetLayer(this.active);
    this.changed();
  }

  removeLayer() {
    if (this.active.kind === "static") return;
    this.layers = this.layers.filter((l) => l !== this.active);
    this.active.canvas.remove();
    this.active = this.layers[this.layers.length - 1];
    this.renderLayerBar();
    this.changed();
  }

  undoPoint() {
    this.active.points.pop();
    this.changed();
  }

  changed() {
    this.redraw();
    this.onChange?.();
  }

  /** Pointer position in image pixels (top-left origin). */
  toImage(event) {
    const r = this.overlay.getBoundingClientRect();
    return {
      x: Math.min(Math.max(((event.clientX - r.left) * this.size.w) / r.width, 0), this.size.w),
      y: Math.min(Math.max(((event.clientY - r.top) * this.size.h) / r.height, 0), this.size.h),
    };
  }

  bindPointer() {
    let last = null;
    const stroke = (to) => {
      const ctx = this.active.canvas.getContext("2d");
      ctx.globalCompositeOperation = this.tool === "eraser" ? "destination-out" : "source-over";
      ctx.strokeStyle = ctx.fillStyle = this.active.color;
      ctx.lineWidth = this.brush;
      ctx.lineCap = ctx.lineJoin = "round";
      ctx.beginPath();
      ctx.moveTo(last.x, last.y);
      ctx.lineTo(to.x + 0.01, to.y);
      ctx.stroke();
      last = to;
    };
    this.overlay.addEventListener("pointerdown", (event) => {
      if (!this.size.w || event.button !== 0) return;
      event.preventDefault();
      const p = this.toImage(event);
      if (this.tool === "path") {
        if (this.active.kind !== "dynamic") {
          this.info.textContent = "Trajectories belong to dynamic masks: pick a Dynamic layer.";
        } else if (this.active.points.length < MAX_POINTS) {
          this.active.points.push(p);
          this.changed();
        }
        return;
      }
      this.overlay.setPointerCapture(event.pointerId);
      last = p;
      stroke(p);
    });
    this.overlay.addEventListener("pointermove", (event) => {
      const p = this.toImage(event);
      this.cursor.setAttribute("cx", p.x);
      this.cursor.setAttribute("cy", p.y);
      this.cursor.setAttribute("r", this.tool === "path" ? 0 : this.brush / 2);
      if (last) stroke(p);
    });
    const end = () => {
      if (last) this.changed();
      last = null;
    };
    this.overlay.addEventListener("pointerup", end);
    this.overlay.addEventListener("pointercancel", end);
    this.overlay.addEventListener("pointerleave", () => this.cursor.setAttribute("r", 0));
  }

  /** Kling's coordinates of a point: integers, origin at the image's bottom-left. */
  toKling(p) {
    return { x: Math.round(p.x), y: Math.round(this.size.h - p.y) };
  }

  redraw() {
    const nodes = [];
    const dot = Math.max(4, Math.max(this.size.w, this.size.h) / 90);
    for (const layer of this.layers) {
      layer.canvas.classList.toggle("active", layer === this.active);
      if (!layer.points.length) continue;
      const points = layer.points.map((p) => `${p.x},${p.y}`).join(" ");
      nodes.push(svg("polyline", { points, stroke: layer.color, class: "path" }));
      layer.points.forEach((p, i) => {
        nodes.push(svg("circle", { cx: p.x, cy: p.y, r: i === layer.points.length - 1 ? dot * 1.4 : dot, fill: layer.color, class: "point" }));
      });
    }
    this.overlay.replaceChildren(...nodes, this.cursor);
    this.info.textContent = this.describe(this.active);
  }

  describe(layer) {
    if (!this.size.w) return "";
    const name = this.label(layer);
    if (layer.kind === "static") return `${name}: painted areas stay still (mask ${this.size.w}×${this.size.h}).`;
    const n = layer.points.length;
    const pts = layer.points.map((p) => this.toKling(p)).map((p) => `(${p.x}, ${p.y})`).join(" → ");
    return `${name}: ${n} of 2–${MAX_POINTS} points${n ? ` from the bottom-left: ${pts}` : "; paint the area, then pick Trajectory and click its path"}.`;
  }

  /** The layers in use, each with its mask blob, in request order: `{static, dynamic: [...]}`. */
  async collect() {
    const [first, ...rest] = this.layers;
    const result = { static: this.size.w ? await maskBlob(first.canvas) : null, dynamic: [] };
    for (const layer of rest) {
      const blob = this.size.w ? await maskBlob(layer.canvas) : null;
      if (!blob && !layer.points.length) continue;
      result.dynamic.push({ label: this.label(layer), blob, points: layer.points.map((p) => this.toKling(p)) });
    }
    return result;
  }

  /** Problems the server cannot name well (a path with no painted area and the reverse). */
  check(collected) {
    const problems = [];
    for (const d of collected.dynamic) {
      if (!d.blob) problems.push(`${d.label} has a trajectory but no painted area`);
      else if (d.points.length < 2) problems.push(`${d.label} needs a trajectory of 2 to ${MAX_POINTS} points (pick Trajectory and click)`);
    }
    return problems;
  }

  /** The body fields of the brush; `uploadMask(blob, name)` turns a blob into a URL. With
   * no uploader, placeholders stand in for the URLs (for the code tab). */
  async fields(collected, uploadMask = null) {
    const out = {};
    const url = (blob, name) => (uploadMask ? uploadMask(blob, name) : `<${name}, uploaded on Run>`);
    if (collected.static) out.static_mask_url = await url(collected.static, "static_mask.png");
    const masks = [];
    for (const [i, d] of collected.dynamic.entries()) {
      masks.push({ mask_url: await url(d.blob, `dynamic_mask_${i + 1}.png`), trajectories: d.points });
    }
    if (masks.length) out.dynamic_masks = masks;
    return out;
  }
}
