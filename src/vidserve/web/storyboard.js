// The storyboard editor for v3/O3 `multi_prompt`: shots of a prompt and a duration, added,
// removed and reordered, their total shown against the storyboard's allowed length. The
// request's `duration` is then the shots' total (the form leaves it out; the server adds it).

import { el } from "./dom.js";

export function storyboardControl(f, form) {
  const item = form.resolve(f.schema.items || {});
  const durations = form.resolve(item.properties?.duration || {}).enum || ["1", "2", "3", "4", "5"];
  const fallback = item.properties?.duration?.default ?? durations[0];
  const maxChars = item.properties?.prompt?.maxLength;
  const { min, max } = form.serving.storyboardSeconds;
  const [minShots, maxShots] = [f.schema.minItems ?? 1, f.schema.maxItems ?? Infinity];
  const shots = [];

  const list = el("ol", { class: "shots" });
  const add = el("button", { type: "button", class: "add" }, "+ Add shot");
  const bar = el("div", { class: "story-bar", "aria-hidden": "true" });
  const total = el("span", { class: "story-total", id: `${f.id}-total` });
  const scale = Math.max(max, 1);
  // Sized through the CSSOM: the page's CSP allows no inline style attributes.
  const segment = (grow, text, extra = "") => {
    const node = el("span", { class: `segment ${extra}` }, text);
    node.style.flexGrow = String(grow);
    return node;
  };

  const refresh = () => {
    let seconds = 0;
    bar.replaceChildren();
    shots.forEach((shot, i) => {
      const n = i + 1;
      shot.node.dataset.index = i;
      shot.tag.textContent = `Shot ${n}`;
      shot.prompt.setAttribute("aria-label", `shot ${n} prompt`);
      shot.duration.setAttribute("aria-label", `shot ${n} duration`);
      shot.up.disabled = i === 0;
      shot.down.disabled = i === shots.length - 1;
      shot.remove.disabled = shots.length <= minShots;
      if (maxChars) shot.chars.textContent = `${shot.prompt.value.length}/${maxChars}`;
      const s = Number(shot.duration.value);
      seconds += s;
      bar.append(segment(s, `${n} · ${s}s`));
    });
    // The bar is drawn to scale: the empty part up to the longest storyboard allowed.
    bar.append(segment(Math.max(scale - seconds, 0), "", "rest"));
    bar.style.setProperty("--min", `${(min / Math.max(scale, seconds)) * 100}%`);
    const ok = seconds >= min && seconds <= max;
    bar.classList.toggle("off", !ok);
    total.classList.toggle("off", !ok);
    total.textContent = `Total ${seconds} s of ${min}–${max} s allowed${ok ? "" : seconds < min ? ": too short" : ": too long"}`;
    add.disabled = shots.length >= maxShots;
  };

  const append = (value = {}) => {
    const prompt = el("textarea", { rows: 2, placeholder: "What happens in this shot" });
    const duration = el("select", {}, ...durations.map((d) => el("option", { value: d }, `${d} s`)));
    const up = el("button", { type: "button", "aria-label": "move shot up", title: "move up" }, "↑");
    const down = el("button", { type: "button", "aria-label": "move shot down", title: "move down" }, "↓");
    const remove = el("button", { type: "button", class: "remove", "aria-label": "remove shot", title: "remove" }, "✕");
    const tag = el("span", { class: "tag" });
    const chars = el("span", { class: "chars muted" });
    const node = el("li", { class: "shot" }, tag, prompt, el("div", { class: "shot-side" }, duration, chars, el("div", { class: "moves" }, up, down, remove)));
    const shot = { node, prompt, duration, up, down, remove, tag, chars };
    prompt.value = value.prompt ?? "";
    duration.value = durations.includes(value.duration) ? value.duration : fallback;
    const move = (by) => {
      const i = shots.indexOf(shot);
      const j = i + by;
      if (j < 0 || j >= shots.length) return;
      [shots[i], shots[j]] = [shots[j], shots[i]];
      list.replaceChildren(...shots.map((s) => s.node));
      refresh();
      form.emit("change");
    };
    up.addEventListener("click", () => move(-1));
    down.addEventListener("click", () => move(1));
    remove.addEventListener("click", () => {
      shots.splice(shots.indexOf(shot), 1);
      node.remove();
      refresh();
      form.emit("change");
    });
    shots.push(shot);
    list.append(node);
    return shot;
  };
  add.addEventListener("click", () => {
    append().prompt.focus();
    refresh();
    form.emit("change");
  });
  list.addEventListener("input", refresh);
  list.addEventListener("change", refresh);

  return {
    control: el("div", { class: "storyboard" }, list, el("div", { class: "list-foot" }, add, total), bar),
    /** Every shot, once any has a prompt: the durations line up with what is on screen. */
    get: () => {
      if (!shots.some((s) => s.prompt.value.trim())) return undefined;
      return shots.map((s) => ({ prompt: s.prompt.value, duration: s.duration.value }));
    },
    set: (v) => {
      shots.splice(0).forEach((s) => s.node.remove());
      const given = Array.isArray(v) && v.length ? v : [{}, {}];
      given.forEach((shot) => append(shot));
      refresh();
    },
    /** The storyboard's length in seconds. */
    seconds: () => shots.reduce((sum, s) => sum + Number(s.duration.value), 0),
    /** Start from a single prompt: it becomes the first shot's. */
    seed: (text) => {
      if (text && !shots.some((s) => s.prompt.value.trim())) {
        shots[0].prompt.value = text;
        refresh();
      }
    },
    describe: (rest) => (typeof rest[0] === "number" ? [`shot ${rest[0] + 1}`, ...rest.slice(1)].join(" ") : null),
  };
}
