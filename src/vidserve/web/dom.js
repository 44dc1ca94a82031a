// A tiny element builder: el("div", {class: "x", hidden: true}, child, "text", ...).

export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (value === false || value === null || value === undefined) continue;
    node.setAttribute(name, value === true ? "" : String(value));
  }
  node.append(...children.filter((c) => c !== null && c !== undefined));
  return node;
}

export function svg(tag, attrs = {}) {
  const node = document.createElementNS("http://www.w3.org/2000/svg", tag);
  for (const [name, value] of Object.entries(attrs)) node.setAttribute(name, String(value));
  return node;
}

/**
 * Narrow a <select> to the options whose text matches what is typed in `search`, counting
 * them in `matches` and picking the first when the chosen one is hidden. `text(option)` is
 * what a query is looked for in; `query(typed)` normalises what is typed.
 */
export function searchable(search, select, matches, text, query = (q) => q) {
  const filter = () => {
    const q = query(search.value.trim().toLowerCase());
    let shown = 0;
    let first = null;
    for (const opt of select.options) {
      opt.hidden = Boolean(q) && !text(opt).toLowerCase().includes(q);
      if (!opt.hidden) {
        shown += 1;
        first ??= opt;
      }
    }
    for (const group of select.querySelectorAll("optgroup")) group.hidden = [...group.children].every((o) => o.hidden);
    matches.textContent = q ? `${shown} match${shown === 1 ? "" : "es"}` : "";
    if (first && select.selectedOptions[0]?.hidden) {
      select.value = first.value;
      select.dispatchEvent(new Event("change", { bubbles: true }));
    }
  };
  search.addEventListener("input", filter);
  // Enter picks the first match rather than submitting the form.
  search.addEventListener("keydown", (e) => e.key === "Enter" && e.preventDefault());
}
