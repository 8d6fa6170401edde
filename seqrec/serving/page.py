"""The demo page served at ``/``: one static HTML document with inline CSS and JS (no build, no CDN).

It calls the app's own JSON endpoints: ``/metadata`` once, ``/search`` as the user types, and
``/recommend`` with the history built so far whenever it changes. Text from the server is inserted with
``textContent`` only, never as HTML. Kept as a Python string so it ships inside the package.
"""

PAGE_HTML = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>seqrec demo</title>
<style>
  :root { --ink: #1d2330; --muted: #6b7280; --line: #e5e7eb; --accent: #2563eb; --bg: #f8fafc; }
  * { box-sizing: border-box; }
  body { margin: 0; font: 14px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; color: var(--ink);
         background: var(--bg); }
  header { padding: 14px 24px; background: #fff; border-bottom: 1px solid var(--line); }
  header h1 { margin: 0; font-size: 18px; }
  header p { margin: 2px 0 0; color: var(--muted); }
  main { display: grid; grid-template-columns: minmax(280px, 1fr) minmax(360px, 1.4fr); gap: 20px;
         padding: 20px 24px; }
  section { background: #fff; border: 1px solid var(--line); border-radius: 8px; padding: 14px 16px; }
  h2 { margin: 0 0 10px; font-size: 15px; }
  input[type=search] { width: 100%; padding: 8px 10px; font-size: 14px; border: 1px solid #cbd5e1;
                       border-radius: 6px; }
  ul { list-style: none; margin: 8px 0 0; padding: 0; }
  li { display: flex; align-items: center; gap: 8px; padding: 5px 0; border-bottom: 1px solid var(--line); }
  li:last-child { border-bottom: none; }
  .grow { flex: 1; min-width: 0; }
  .title { font-weight: 600; }
  .meta { color: var(--muted); font-size: 12px; }
  button { border: 1px solid #cbd5e1; background: #fff; border-radius: 5px; padding: 3px 9px; cursor: pointer;
           font-size: 13px; }
  button:hover { border-color: var(--accent); color: var(--accent); }
  table { width: 100%; border-collapse: collapse; }
  th, td { text-align: left; padding: 6px 6px; border-bottom: 1px solid var(--line); vertical-align: top; }
  th { color: var(--muted); font-weight: 500; font-size: 12px; }
  th.num, td.num { text-align: right; font-variant-numeric: tabular-nums; }
  .row { display: flex; gap: 10px; align-items: center; margin-top: 10px; color: var(--muted); }
  .error { color: #b91c1c; }
  .empty { color: var(--muted); padding: 6px 0; }
</style>
</head>
<body>
<header>
  <h1>seqrec: next-item recommendations</h1>
  <p id="model">loading model information...</p>
</header>
<main>
  <div>
    <section>
      <h2>1. Find items by title</h2>
      <input id="search" type="search" placeholder="type a title, e.g. star wars" autocomplete="off">
      <ul id="results"></ul>
    </section>
    <section style="margin-top: 20px">
      <h2>2. Your history (oldest first)</h2>
      <ul id="history"><li class="empty">Add items from the search results.</li></ul>
      <div class="row"><button id="clear" type="button">clear history</button></div>
    </section>
  </div>
  <section>
    <h2>3. Recommended next</h2>
    <div class="row">
      <label for="k">show</label>
      <select id="k"><option>10</option><option>20</option><option>50</option></select>
      <span id="status"></span>
    </div>
    <table>
      <thead><tr><th>#</th><th>title</th><th>details</th><th class="num">score</th><th></th></tr></thead>
      <tbody id="recs"></tbody>
    </table>
  </section>
</main>
<script>
"use strict";
const $ = (id) => document.getElementById(id);
const picked = [];
let searchSeq = 0, recSeq = 0;

function el(tag, text, cls) {
  const node = document.createElement(tag);
  if (text !== undefined && text !== null) node.textContent = String(text);
  if (cls) node.className = cls;
  return node;
}

function details(item) {
  const meta = item.meta || {};
  const parts = [];
  for (const key of ["genres", "tags", "year", "category"]) {
    const value = meta[key];
    if (value === undefined || value === null || value === "") continue;
    parts.push(Array.isArray(value) ? value.slice(0, 5).join(", ") : String(value).split("|").join(", "));
  }
  if (parts.length === 0) parts.push("id " + item.item);
  return parts.join(" \\u00b7 ");
}

async function getJSON(url, options) {
  const response = await fetch(url, options);
  const body = await response.json();
  if (!response.ok) {
    const detail = Array.isArray(body.detail)
      ? body.detail.map((d) => d.msg).join("; ") : response.statusText;
    throw new Error(detail);
  }
  return body;
}

async function loadMetadata() {
  try {
    const m = await getJSON("/metadata");
    const index = m.index ? `${m.index.kind} index` : "model scoring";
    $("model").textContent = `${m.model} on ${m.dataset}: ${m.num_items.toLocaleString()} items, ` +
      `${m.num_users.toLocaleString()} users, retrieval by ${index}`;
  } catch (err) {
    $("model").textContent = "metadata unavailable: " + err.message;
  }
}

function addToHistory(item) {
  if (picked.some((h) => h.item === item.item)) return;
  picked.push({ item: item.item, title: item.title, meta: item.meta });
  renderHistory();
  recommend();
}

function renderHistory() {
  const list = $("history");
  list.replaceChildren();
  if (picked.length === 0) {
    list.append(el("li", "Add items from the search results.", "empty"));
    return;
  }
  picked.forEach((item, i) => {
    const li = el("li");
    const text = el("div", null, "grow");
    text.append(el("div", item.title || item.item, "title"), el("div", details(item), "meta"));
    const remove = el("button", "remove");
    remove.type = "button";
    remove.addEventListener("click", () => { picked.splice(i, 1); renderHistory(); recommend(); });
    li.append(text, remove);
    list.append(li);
  });
}

async function search() {
  const q = $("search").value.trim();
  const seq = ++searchSeq;
  const list = $("results");
  if (!q) { list.replaceChildren(); return; }
  try {
    const body = await getJSON("/search?" + new URLSearchParams({ q, k: "8" }));
    if (seq !== searchSeq) return;
    list.replaceChildren();
    if (body.items.length === 0) list.append(el("li", "No title matches.", "empty"));
    for (const item of body.items) {
      const li = el("li", null, "hit");
      const text = el("div", null, "grow");
      text.append(el("div", item.title, "title"), el("div", details(item), "meta"));
      const add = el("button", "add", "add");
      add.type = "button";
      add.addEventListener("click", () => addToHistory(item));
      li.append(text, add);
      list.append(li);
    }
  } catch (err) {
    if (seq === searchSeq) list.replaceChildren(el("li", err.message, "error"));
  }
}

async function recommend() {
  const seq = ++recSeq;
  const body = $("recs");
  const status = $("status");
  if (picked.length === 0) { body.replaceChildren(); status.textContent = ""; return; }
  status.textContent = "updating...";
  try {
    const result = await getJSON("/recommend", {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ history: picked.map((h) => h.item), k: Number($("k").value) }),
    });
    if (seq !== recSeq) return;
    body.replaceChildren();
    for (const item of result.items) {
      const tr = el("tr", null, "rec");
      const add = el("button", "+");
      add.type = "button";
      add.title = "add to history";
      add.addEventListener("click", () => addToHistory(item));
      const action = el("td");
      action.append(add);
      tr.append(el("td", item.rank, "num"), el("td", item.title || item.item, "title"),
                el("td", details(item), "meta"), el("td", item.score.toFixed(3), "num"), action);
      body.append(tr);
    }
    status.textContent =
      `${result.items.length} items in ${result.took_ms.toFixed(1)} ms (${result.retrieval})`;
    status.className = "";
  } catch (err) {
    if (seq === recSeq) { status.textContent = err.message; status.className = "error"; }
  }
}

let timer = null;
$("search").addEventListener("input", () => { clearTimeout(timer); timer = setTimeout(search, 150); });
$("clear").addEventListener("click", () => { picked.length = 0; renderHistory(); recommend(); });
$("k").addEventListener("change", recommend);
loadMetadata();
</script>
</body>
</html>
"""
