// graphgrad playground: the lecture's picture of a graph, live. Talks only to the server
// that served it (/v1/validate, /v1/explain, /v1/check, /v1/graphs); draws the picture
// itself as SVG from /v1/explain's document (docs/decisions.md, "The graph playground").
"use strict";

const SVG = "http://www.w3.org/2000/svg";
const NAME = /^[A-Za-z0-9_-]+$/;
const LOCATED = /^body:(\d+):(\d+): ([\s\S]*)$/;
const MIN_SCALE = 0.8; // a wide graph is shrunk to fit the page down to this, then scrolls
const ROW = 92; // vertical distance between nodes of one rank
const $ = (id) => document.getElementById(id);

const state = {
  wanted: null, // the text to show next
  shown: null, // the text the picture shows
  pumping: false,
  doc: null,
  edits: {}, // input name -> {index (UTF-16), token, form}
  ranges: {}, // input name -> [min, max, step] of its slider, kept while it is dragged
  selected: null,
  check: null,
  timer: null,
};

function setState(s, message) {
  document.body.dataset.state = s;
  if (message !== undefined) $("status").textContent = message;
}

// ---- talking to the service -------------------------------------------------------------

async function call(method, path, body) {
  const init = { method, headers: {} };
  if (body !== undefined) {
    init.body = body;
    init.headers["content-type"] = "application/yaml";
  }
  for (let attempt = 0; ; attempt++) {
    let response;
    try {
      response = await fetch(path, init);
    } catch (err) {
      return { ok: false, status: 0, problem: { title: "No answer", detail: `the server did not answer (${err.message})` } };
    }
    if (response.status === 503 && attempt < 3) {
      const wait = Number(response.headers.get("retry-after") || 1);
      await new Promise((resolve) => setTimeout(resolve, wait * 1000));
      continue;
    }
    const type = response.headers.get("content-type") || "";
    if (type.includes("json")) {
      const data = await response.json();
      return response.ok ? { ok: true, status: response.status, data } : { ok: false, status: response.status, problem: data };
    }
    const text = await response.text();
    return response.ok ? { ok: true, status: response.status, text } : { ok: false, status: response.status, problem: { title: response.statusText, detail: text } };
  }
}

// ---- the pipeline: every edit is validated, then drawn --------------------------------------

function refresh(delay) {
  clearTimeout(state.timer);
  state.timer = setTimeout(() => {
    state.wanted = $("source").value;
    pump();
  }, delay);
}

async function pump() {
  if (state.pumping) return;
  state.pumping = true;
  try {
    while (state.wanted !== null && state.wanted !== state.shown) {
      const text = state.wanted;
      state.wanted = null;
      await update(text);
    }
  } finally {
    state.pumping = false;
  }
}

async function update(text) {
  setState("busy", "validating…");
  clearCheck();
  const valid = await call("POST", "/v1/validate", text);
  if (!valid.ok) {
    state.shown = text;
    showErrors(valid.problem, text);
    $("picture").classList.add("stale");
    setState("error", problemText(valid.problem));
    return;
  }
  showErrors(null, text);
  setState("busy", "running…");
  const run = await call("POST", "/v1/explain", text);
  state.shown = text;
  if (!run.ok) {
    showErrors(run.problem, text);
    $("picture").classList.add("stale");
    setState("error", problemText(run.problem));
    return;
  }
  const doc = run.data;
  state.doc = doc;
  if (text === $("source").value) takeEdits(doc, text);
  const misses = doc.expect ? doc.expect.mismatches : [];
  const expect = doc.expect ? (doc.expect.passed ? " · expect: passed" : ` · expect: ${misses.length} mismatch${misses.length > 1 ? "es" : ""}`) : "";
  $("status").title = misses.join("\n");
  if (!doc.drawable) {
    drawTooLarge(doc);
    setState("ready", `${doc.output} = ${short(doc.value)}${expect} · not drawn: ${doc.why}`);
    return;
  }
  draw(doc);
  inputsPanel(doc);
  if (state.selected && !doc.nodes.some((n) => n.name === state.selected)) state.selected = null;
  showDetails(state.selected);
  setState("ready", `${doc.name}: ${doc.output} = ${short(doc.value)}${expect}`);
}

function problemText(problem) {
  if (!problem) return "";
  const errors = problem.errors || [];
  const more = errors.length > 1 ? ` (and ${(problem.errors_total || errors.length) - 1} more)` : "";
  return `${problem.title}: ${problem.detail}${more}`;
}

function short(value) {
  if (typeof value === "number") return String(Number(value.toPrecision(6)));
  if (Array.isArray(value)) return `[${value.length} …]`;
  return String(value);
}

// ---- the editor: errors at their line and column ----------------------------------------

function showErrors(problem, text) {
  const lines = text.split(/\r\n|\r|\n/);
  const located = [];
  const loose = [];
  for (const message of problem ? problem.errors || [problem.detail] : []) {
    const m = LOCATED.exec(message);
    if (m) located.push({ line: Number(m[1]), column: Number(m[2]), message: m[3] });
    else loose.push(message);
  }
  const list = $("errors");
  list.replaceChildren();
  for (const e of located) {
    const li = document.createElement("li");
    li.textContent = `line ${e.line}, column ${e.column}: ${e.message}`;
    li.dataset.line = e.line;
    li.dataset.column = e.column;
    li.addEventListener("click", () => goTo(e.line, e.column));
    list.append(li);
  }
  for (const message of loose) {
    const li = document.createElement("li");
    li.textContent = message;
    list.append(li);
  }
  markEditor(lines, located);
}

function markEditor(lines, located) {
  const byLine = new Map();
  for (const e of located) if (!byLine.has(e.line)) byLine.set(e.line, e);
  const gutter = $("gutter");
  gutter.replaceChildren();
  const backdrop = $("backdrop");
  backdrop.replaceChildren();
  lines.forEach((line, i) => {
    const number = document.createElement("div");
    number.textContent = String(i + 1);
    const e = byLine.get(i + 1);
    if (e) {
      number.className = "error";
      number.title = e.message;
    }
    gutter.append(number);
    const row = document.createElement("span");
    if (e) {
      row.className = "error-line";
      const chars = Array.from(line);
      const at = Math.min(e.column - 1, chars.length);
      const rest = chars.slice(at).join("");
      const token = /^[^\s,\]\}]*/.exec(rest)[0] || rest.slice(0, 1) || " ";
      const mark = document.createElement("mark");
      mark.textContent = token;
      row.append(chars.slice(0, at).join(""), mark, rest.slice(token.length));
    } else {
      row.textContent = line;
    }
    backdrop.append(row, "\n");
  });
  const bubbles = $("bubbles");
  bubbles.replaceChildren();
  const lineHeight = parseFloat(getComputedStyle($("source")).lineHeight) || 18;
  for (const e of byLine.values()) {
    const bubble = document.createElement("div");
    bubble.className = "bubble";
    bubble.dataset.errorLine = e.line;
    bubble.dataset.errorColumn = e.column;
    bubble.textContent = `${e.line}:${e.column} ${e.message}`;
    bubble.title = e.message;
    bubble.dataset.top = String(6 + e.line * lineHeight);
    bubble.dataset.left = String(8 + (e.column - 1) * charWidth());
    bubbles.append(bubble);
  }
  syncScroll();
}

let measured = 0;
function charWidth() {
  if (!measured) {
    const probe = document.createElement("span");
    probe.textContent = "0".repeat(20);
    $("backdrop").append(probe);
    measured = probe.getBoundingClientRect().width / 20 || 7.8;
    probe.remove();
  }
  return measured;
}

function syncScroll() {
  const source = $("source");
  $("backdrop").scrollTop = source.scrollTop;
  $("backdrop").scrollLeft = source.scrollLeft;
  $("gutter").scrollTop = source.scrollTop;
  for (const bubble of $("bubbles").children) {
    bubble.style.top = `${Number(bubble.dataset.top) - source.scrollTop}px`;
    bubble.style.left = `${Math.max(4, Number(bubble.dataset.left) - source.scrollLeft)}px`;
  }
}

function goTo(line, column) {
  const source = $("source");
  const lines = source.value.split("\n");
  let index = 0;
  for (let i = 0; i < line - 1 && i < lines.length; i++) index += lines[i].length + 1;
  index += Array.from(lines[line - 1] || "").slice(0, column - 1).join("").length;
  source.focus();
  source.setSelectionRange(index, index);
}

// ---- inputs changed in place --------------------------------------------------------------

function utf16Index(text, codePoints) {
  let i = 0;
  for (let n = 0; n < codePoints && i < text.length; n++) i += text.codePointAt(i) > 0xffff ? 2 : 1;
  return i;
}

function takeEdits(doc, text) {
  state.edits = {};
  for (const node of doc.nodes || []) {
    if (node.edit) state.edits[node.name] = { index: utf16Index(text, node.edit.offset), token: node.edit.token, form: node.edit.form };
  }
}

function setInput(name, token) {
  const edit = state.edits[name];
  const source = $("source");
  const text = source.value;
  if (!edit || text.substr(edit.index, edit.token.length) !== edit.token) return false;
  if (token === edit.token) return true;
  source.value = text.slice(0, edit.index) + token + text.slice(edit.index + edit.token.length);
  const delta = token.length - edit.token.length;
  for (const other of Object.values(state.edits)) if (other.index > edit.index) other.index += delta;
  edit.token = token;
  markEditor(source.value.split(/\r\n|\r|\n/), []);
  refresh(0);
  return true;
}

function sliderRange(value) {
  const span = Math.max(1, 2 * Math.abs(value));
  const step = 10 ** Math.floor(Math.log10(span / 50));
  return [value - span, value + span, step];
}

function roundTo(value, step) {
  const digits = Math.max(0, -Math.floor(Math.log10(step)));
  return String(Number(value.toFixed(Math.min(digits, 12))));
}

function inputsPanel(doc) {
  const panel = $("inputs");
  const inputs = doc.nodes.filter((n) => n.kind === "input");
  const signature = inputs.map((n) => `${n.name}:${n.edit ? n.edit.form : "-"}:${n.value.dtype}:${n.value.shape.length}`).join(",");
  if (panel.dataset.signature !== signature) {
    panel.dataset.signature = signature;
    panel.replaceChildren();
    for (const node of inputs) panel.append(inputRow(node));
  }
  for (const node of inputs) {
    const field = panel.querySelector(`[data-input-field="${node.name}"]`);
    const slider = panel.querySelector(`[data-input-slider="${node.name}"]`);
    const token = node.edit ? node.edit.token : null;
    if (field && document.activeElement !== field && token !== null) field.value = token;
    if (slider && document.activeElement !== slider && typeof node.value.data === "number") {
      const value = node.value.data;
      let range = state.ranges[node.name];
      if (!range || value < range[0] || value > range[1]) range = state.ranges[node.name] = sliderRange(value);
      [slider.min, slider.max, slider.step] = range.map(String);
      slider.value = String(value);
    }
  }
}

function inputRow(node) {
  const row = document.createElement("div");
  row.className = "row";
  const name = document.createElement("span");
  name.className = "name";
  name.textContent = node.name;
  name.title = node.doc || `input ${node.name}`;
  row.append(name);
  const scalar = node.value.shape.length === 0;
  const float = node.value.dtype.startsWith("float");
  if (!node.edit) {
    const fixed = document.createElement("span");
    fixed.className = "fixed";
    fixed.textContent = `${node.value.label} (made by its initialiser: edit the file to change it)`;
    row.append(fixed);
    return row;
  }
  if (node.edit.form === "number" && scalar) {
    const slider = document.createElement("input");
    slider.type = "range";
    slider.dataset.inputSlider = node.name;
    slider.setAttribute("aria-label", `${node.name} (slider)`);
    if (!float) slider.disabled = true;
    slider.addEventListener("input", () => setInput(node.name, roundTo(Number(slider.value), Number(slider.step))));
    const field = document.createElement("input");
    field.type = "number";
    field.step = "any";
    field.dataset.inputField = node.name;
    field.setAttribute("aria-label", node.name);
    field.addEventListener("input", () => {
      if (field.value !== "" && Number.isFinite(Number(field.value))) setInput(node.name, field.value);
    });
    row.append(slider, field);
  } else {
    const field = document.createElement("input");
    field.type = "text";
    field.className = "list";
    field.dataset.inputField = node.name;
    field.setAttribute("aria-label", node.name);
    field.title = "a number or a list in brackets, as in the file";
    field.addEventListener("input", () => setInput(node.name, field.value));
    row.append(field);
  }
  return row;
}

// ---- the picture: values above each edge, gradients below (as `graphgrad render`) ----------

function el(name, attrs, parent) {
  const node = document.createElementNS(SVG, name);
  for (const [k, v] of Object.entries(attrs || {})) if (v !== undefined && v !== null) node.setAttribute(k, String(v));
  if (parent) parent.append(node);
  return node;
}

function label(parent, content, attrs) {
  const t = el("text", attrs, parent);
  t.textContent = content;
  return t;
}

function columnWidth(doc) {
  // room between two ranks for the longest label on an edge (render's labels: value, gradient)
  const longest = Math.max(0, ...doc.edges.map((e) => Math.max((e.value || "").length, (e.grad || "").length)));
  return Math.min(240, Math.max(130, 70 + 6.5 * longest));
}

function layout(doc) {
  const COL = columnWidth(doc);
  // place: name -> {rank, order}; literals are drawn as their own small nodes
  // a gate's circle grows with its symbol, as Graphviz's does with its label
  const radius = (n) => (n.kind === "input" ? 30 : n.symbol.length > 3 ? Math.max(19, 3.4 * n.symbol.length + 6) : 19);
  const items = doc.nodes.map((n) => ({ key: n.name, rank: n.rank, node: n, preds: [], succs: [], radius: radius(n) }));
  const byKey = new Map(items.map((it) => [it.key, it]));
  const literals = [];
  doc.edges.forEach((e, i) => {
    if (e.target === null) {
      e.from = e.source;
      return;
    }
    const target = byKey.get(e.target);
    if (e.source === null) {
      // a literal is drawn beside the gate that takes it, outside the ranks
      literals.push({ key: `#${i}`, literal: e.literal, target, position: e.position });
      e.from = `#${i}`;
    } else {
      const source = byKey.get(e.source);
      source.succs.push(target);
      target.preds.push(source);
      e.from = e.source;
    }
  });
  const maxRank = Math.max(0, ...items.map((it) => it.rank));
  const columns = Array.from({ length: maxRank + 1 }, () => []);
  items.forEach((it) => columns[Math.max(0, it.rank)].push(it));
  const index = () => columns.forEach((col) => col.forEach((it, i) => (it.pos = i)));
  index();
  const mean = (list, own) => (list.length ? list.reduce((s, o) => s + o.pos, 0) / list.length : own);
  for (let sweep = 0; sweep < 6; sweep++) {
    const forward = sweep % 2 === 0;
    const order = forward ? columns : [...columns].reverse();
    for (const col of order) {
      col.forEach((it) => (it.weight = mean(forward ? it.preds : it.succs, it.pos)));
      col.sort((a, b) => a.weight - b.weight || a.pos - b.pos);
      col.forEach((it, i) => (it.pos = i));
    }
  }
  const tallest = Math.max(...columns.map((c) => c.length));
  columns.forEach((col, r) =>
    col.forEach((it, i) => {
      it.x = 70 + r * COL;
      it.y = 50 + (i + (tallest - col.length) / 2) * ROW;
    }),
  );
  for (const lit of literals) {
    lit.x = lit.target.x - COL * 0.42;
    lit.y = lit.target.y + (lit.position > 0 ? 38 : -38);
    byKey.set(lit.key, lit);
  }
  return { byKey, COL, width: 70 + (maxRank + 1) * COL + 40, height: 40 + tallest * ROW };
}

function asJson(entry) {
  return entry && "data" in entry ? JSON.stringify(entry.data) : undefined;
}

function draw(doc) {
  const picture = $("picture");
  picture.classList.remove("stale");
  const { byKey, COL, width, height } = layout(doc);
  const svg = el("svg", { viewBox: `0 0 ${width} ${height}`, role: "img" });
  svg.dataset.width = width;
  svg.dataset.height = height;
  const edges = el("g", { class: "edges" }, svg);
  const nodes = el("g", { class: "nodes" }, svg);
  const fanout = new Map(); // source -> edges out of it, to spread them
  doc.edges.forEach((e) => {
    if (!fanout.has(e.from)) fanout.set(e.from, []);
    fanout.get(e.from).push(e);
  });
  const outputNode = byKey.get(doc.output);
  const sink = { x: outputNode.x + outputNode.radius + COL * 0.5, y: outputNode.y };
  for (const e of doc.edges) {
    const from = byKey.get(e.from);
    const outs = fanout.get(e.from);
    const k = outs.indexOf(e);
    const x1 = from.x + (from.literal !== undefined ? 12 : from.radius);
    const y1 = from.y + (k - (outs.length - 1) / 2) * 8;
    let x2, y2, nargs;
    if (e.target === null) {
      [x2, y2] = [sink.x, sink.y];
    } else {
      const to = byKey.get(e.target);
      nargs = to.node.args.length;
      x2 = to.x - to.radius - 1;
      y2 = to.y + (e.position - (nargs - 1) / 2) * 10;
    }
    const g = el("g", { class: "edge", "data-edge": `${e.source ?? "literal"}->${e.target ?? "out"}:${e.position}` }, edges);
    const dx = Math.max(30, (x2 - x1) / 2);
    el("path", { d: `M${x1},${y1} C${x1 + dx},${y1} ${x2 - dx},${y2} ${x2},${y2}`, "marker-end": "url(#arrow)" }, g);
    if (e.value !== undefined) {
      const mx = (x1 + x2) / 2;
      const my = (y1 + y2) / 2;
      label(g, e.value, { class: "v", x: mx, y: my - 5, "text-anchor": "middle" });
      label(g, e.grad, { class: "g", x: mx, y: my + 13, "text-anchor": "middle" });
      if (e.downstream) g.setAttribute("data-grad", JSON.stringify(e.downstream.data ?? null));
    }
  }
  const defs = el("defs", {}, svg);
  const marker = el("marker", { id: "arrow", viewBox: "0 0 10 10", refX: 10, refY: 5, markerWidth: 7, markerHeight: 7, orient: "auto-start-reverse" }, defs);
  el("path", { d: "M0,0 L10,5 L0,10 z", fill: "#57606a" }, marker);
  el("circle", { cx: sink.x + 3, cy: sink.y, r: 3, fill: "#1f2328" }, nodes);
  for (const it of byKey.values()) {
    if (it.literal !== undefined) {
      const g = el("g", { class: "literal" }, nodes);
      label(g, it.literal, { x: it.x, y: it.y });
      continue;
    }
    const n = it.node;
    const g = el("g", {
      class: `node ${n.kind === "input" ? "input" : "gate"}`,
      "data-node": n.name,
      "data-value": asJson(n.value),
      "data-grad": asJson(n.grad),
      "data-shape": JSON.stringify(n.value.shape),
      tabindex: 0,
      role: "button",
      "aria-label": `${n.name}: value ${n.value.label}${n.grad ? `, gradient ${n.grad.label}` : ""}`,
    }, nodes);
    if (n.kind === "input") {
      el("rect", { x: it.x - 30, y: it.y - 15, width: 60, height: 30, rx: 8 }, g);
      label(g, n.name, { x: it.x, y: it.y });
    } else {
      el("circle", { cx: it.x, cy: it.y, r: it.radius }, g);
      label(g, n.symbol, { class: n.symbol.length > 3 ? "sym long" : "sym", x: it.x, y: it.y });
      label(g, n.name, { class: "label", x: it.x, y: it.y - it.radius - 10 });
    }
    const title = el("title", {}, g);
    title.textContent = `${n.name}${n.op ? ` (${n.op})` : ""}: value ${n.value.label}${n.grad ? `, gradient ${n.grad.label}` : ""}`;
    g.addEventListener("click", () => select(n.name));
    g.addEventListener("keydown", (ev) => {
      if (ev.key === "Enter" || ev.key === " ") select(n.name);
    });
    it.g = g;
  }
  picture.replaceChildren(svg);
  fit();
  if (state.selected) markSelected(state.selected);
}

function fit() {
  const svg = $("picture").querySelector("svg");
  if (!svg) return;
  const [width, height] = [Number(svg.dataset.width), Number(svg.dataset.height)];
  const scale = Math.max(MIN_SCALE, Math.min(1, ($("picture").clientWidth - 2) / width));
  svg.setAttribute("width", String(Math.round(width * scale)));
  svg.setAttribute("height", String(Math.round(height * scale)));
}

function drawTooLarge(doc) {
  const picture = $("picture");
  picture.classList.remove("stale");
  const p = document.createElement("p");
  p.className = "too-large";
  p.dataset.tooLarge = "true";
  p.textContent = `Too large to draw: ${doc.why}.`;
  picture.replaceChildren(p);
  $("inputs").replaceChildren();
  $("inputs").dataset.signature = "";
  $("details").replaceChildren();
}

// ---- clicking a node: its row of `graphgrad explain` ---------------------------------------

function select(name) {
  state.selected = name;
  markSelected(name);
  showDetails(name);
}

function markSelected(name) {
  for (const g of $("picture").querySelectorAll(".node")) g.classList.toggle("selected", g.dataset.node === name);
}

function showDetails(name) {
  const box = $("details");
  box.replaceChildren();
  const doc = state.doc;
  if (!name || !doc || !doc.drawable) return;
  const node = doc.nodes.find((n) => n.name === name);
  if (!node) return;
  box.dataset.selected = name;
  const head = document.createElement("h2");
  head.textContent = node.kind === "input" ? `input ${name}` : `node ${name}: ${node.op} (line ${node.line}${node.plugin && node.plugin !== "graphgrad.builtin.gates" ? `, plugin ${node.plugin}` : ""})`;
  box.append(head);
  if (node.doc) box.append(para(node.doc, "meaning"));
  const rows = doc.explain[name] || [];
  if (rows.length) {
    const table = document.createElement("table");
    table.className = "explain";
    const columns = ["node", "gate", "value", "upstream", "input", "local", "downstream", "pattern"];
    const tr = document.createElement("tr");
    for (const c of columns) tr.append(cell("th", c));
    table.append(tr);
    for (const row of rows) {
      const line = document.createElement("tr");
      line.dataset.input = row.input;
      for (const c of columns) line.append(cell("td", row[c]));
      table.append(line);
    }
    box.append(table);
    for (const pattern of new Set(rows.map((r) => r.pattern).filter(Boolean))) box.append(para(`${pattern}: ${doc.patterns[pattern]}`, "meaning"));
    box.append(para("downstream = upstream × local: what this gate sends back to each input.", "meaning"));
  } else if (node.kind === "input") {
    box.append(para(node.grad ? `${name} is used once: its gradient is the downstream gradient of that use.` : `${name} is not differentiated.`, "meaning"));
  } else {
    box.append(para(`${name} is not on a differentiable path to ${doc.output}.`, "meaning"));
  }
  const numbers = document.createElement("pre");
  numbers.className = "numbers";
  numbers.textContent = `value    ${asJson(node.value) ?? node.value.label}\ngradient ${node.grad ? asJson(node.grad) ?? node.grad.label : "–"}`;
  box.append(numbers);
}

function para(content, cls) {
  const p = document.createElement("p");
  p.className = cls;
  p.textContent = content;
  return p;
}

function cell(tag, content) {
  const c = document.createElement(tag);
  c.textContent = content;
  return c;
}

// ---- Check: the gate at fault in red ------------------------------------------------------

function clearCheck() {
  $("checked").replaceChildren();
  for (const g of $("picture").querySelectorAll(".node.blamed, .node.failed")) {
    g.classList.remove("blamed", "failed");
    delete g.dataset.blamed;
    g.querySelectorAll(".blame").forEach((t) => t.remove());
  }
}

async function runCheck() {
  const body = $("source").value;
  setState("busy", "checking…");
  const answer = await call("POST", "/v1/check", body);
  if (body !== $("source").value) return; // edited meanwhile: the verdict is of another file
  clearCheck();
  const box = $("checked");
  if (!answer.ok) {
    box.append(para(problemText(answer.problem), "verdict failed"));
    setState("error", problemText(answer.problem));
    return;
  }
  const file = answer.data.files[0];
  box.dataset.status = file.status;
  box.append(para(`check: ${file.status}`, `verdict ${file.status}`));
  for (const message of [...(file.error || []), ...(file.problems || [])]) box.append(para(message, "blame"));
  if (file.checks.length) {
    const table = document.createElement("table");
    const columns = ["input", "checker", "status", "max_rel_error", "worst_index", "analytic", "numeric"];
    const tr = document.createElement("tr");
    for (const c of columns) tr.append(cell("th", c));
    table.append(tr);
    for (const check of file.checks) {
      const row = document.createElement("tr");
      row.dataset.check = check.input;
      row.dataset.status = check.status;
      for (const c of columns) row.append(cell("td", typeof check[c] === "object" ? JSON.stringify(check[c]) : String(check[c])));
      table.append(row);
      const g = nodeElement(check.input);
      if (g && !check.passed) g.classList.add("failed");
    }
    box.append(table);
  }
  for (const blame of file.blame || []) {
    const c = blame.check;
    const where = c.worst_index && c.worst_index.length ? ` at [${c.worst_index.join(", ")}]` : "";
    const line = para(blame.message, "blame");
    Object.assign(line.dataset, { blameNode: blame.node, worstIndex: JSON.stringify(c.worst_index), analytic: JSON.stringify(c.analytic), numeric: JSON.stringify(c.numeric) });
    box.append(line);
    const g = nodeElement(blame.node);
    if (!g) continue;
    g.classList.add("blamed");
    Object.assign(g.dataset, { blamed: "true", worstIndex: JSON.stringify(c.worst_index), analytic: JSON.stringify(c.analytic), numeric: JSON.stringify(c.numeric) });
    const [x, y] = [Number(g.querySelector("circle, rect").getAttribute("cx") ?? 0), Number(g.querySelector("circle, rect").getAttribute("cy") ?? 0)];
    const below = y + Number(g.querySelector("circle, rect").getAttribute("r") ?? 15) + 12;
    label(g, `wrong gradient${where}: ${short(c.analytic)}`, { class: "blame", x, y: below });
    label(g, `finite differences: ${short(c.numeric)}`, { class: "blame", x, y: below + 14 });
  }
  if (file.status === "passed") box.append(para("every gradient agrees with finite differences", "meaning"));
  setState("ready", `check: ${file.status}${file.blame && file.blame.length ? ` · at fault: ${file.blame.map((b) => b.node).join(", ")}` : ""}`);
}

function nodeElement(name) {
  for (const g of $("picture").querySelectorAll(".node")) if (g.dataset.node === name) return g;
  return null;
}

// ---- start: the menu and the graph to open -------------------------------------------------

const STARTER = "graphgrad: 1\ninputs:\n  x: -2\n  y: 5\n  z: -4\nnodes:\n  q: {op: add, in: [x, y]}\n  f: {op: mul, in: [q, z]}\noutput: f\n";

async function start() {
  const source = $("source");
  source.addEventListener("input", () => {
    state.edits = {};
    refresh(120);
  });
  source.addEventListener("scroll", syncScroll);
  $("check").addEventListener("click", runCheck);
  window.addEventListener("resize", fit);
  const listed = await call("GET", "/v1/graphs");
  const names = listed.ok ? listed.data.graphs : [];
  const menu = $("menu");
  const wanted = new URLSearchParams(location.search).get("graph");
  for (const name of names) menu.append(new Option(name, name, false, name === wanted));
  if (!names.length) menu.append(new Option("(no graphs)", ""));
  menu.addEventListener("change", () => {
    if (menu.value) location.search = `?graph=${encodeURIComponent(menu.value)}`;
  });
  let text = STARTER;
  if (wanted !== null) {
    if (!NAME.test(wanted)) {
      setState("error", `?graph= takes a graph's name (letters, digits, _ and -), not '${wanted}'`);
      source.value = "";
      return;
    }
    const answer = await call("GET", `/v1/graphs/${wanted}`);
    if (!answer.ok) {
      setState("error", problemText(answer.problem));
      source.value = "";
      return;
    }
    text = answer.text;
  } else if (names.includes("simple")) {
    const answer = await call("GET", "/v1/graphs/simple");
    if (answer.ok) text = answer.text;
    menu.value = "simple";
  }
  source.value = text;
  refresh(0);
}

start();
