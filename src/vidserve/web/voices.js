// The voice picker for `voice_id`: Kling's voices in a list searchable by id and by who
// speaks. Who each id names (serving.json's `voices`: "a British old man", gender, age)
// groups the list into men, women, children and the elderly; without it the list is
// Kling's, in Kling's order. The ids are not grouped by language: every voice speaks both
// English and Chinese (`voice_language` picks).

import { el, searchable } from "./dom.js";

const GROUPS = ["Men", "Women", "Children", "Elderly"];
/** A persona's leading Chinese name ("老婆婆, an old woman"): kept in the hint and the
 * search, left out of the list, whose lines stay short (and readable without CJK fonts). */
const LEADING_HAN = /^[\u3400-\u9fff]+[\s,]*/u;

function groupOf(voice) {
  if (voice.age === "child") return "Children";
  if (voice.age === "elderly") return "Elderly";
  return voice.gender === "female" ? "Women" : "Men";
}

export function voiceControl(f, form) {
  const ids = f.schema.enum;
  const about = form.serving.voices || {};
  const preset = f.schema.default;
  const text = (id) => `${id}${about[id] ? ` — ${about[id].persona.replace(LEADING_HAN, "")}` : ""}${id === preset ? " (default)" : ""}`;
  const option = (id) => el("option", { value: id, title: about[id]?.persona || id }, text(id));
  const select = el("select", { id: f.id, size: 8, class: "voice-list" });
  if (ids.every((id) => about[id])) {
    for (const group of GROUPS) {
      const members = ids.filter((id) => groupOf(about[id]) === group);
      if (members.length) select.append(el("optgroup", { label: `${group} · ${members.length}` }, ...members.map(option)));
    }
  } else {
    select.append(...ids.map(option));
  }
  const search = el("input", { type: "search", placeholder: `Search ${ids.length} voices`, "aria-label": "search voices", class: "voice-search" });
  const matches = el("span", { class: "muted" });
  const hint = el("p", { class: "voice-hint" });

  const sync = () => {
    const id = select.value;
    const who = about[id];
    const details = who ? `: ${who.persona} (${who.gender}, ${who.age})` : "";
    const versus = !preset ? "" : id === preset ? " · the default" : ` · the default is ${preset}`;
    hint.textContent = `${id}${details}${versus}`;
  };
  searchable(search, select, matches, (opt) => `${opt.value} ${opt.title}`);
  select.addEventListener("change", sync);

  return {
    control: el("div", { class: "voice-picker" }, el("div", { class: "row" }, search, matches), select, hint),
    get: () => select.value || undefined,
    set: (v) => {
      // A required voice without a default still sends one: the first, as the list shows.
      select.value = ids.includes(v) ? v : (preset ?? ids[0]);
      sync();
    },
  };
}
