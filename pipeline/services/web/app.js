// Comparison page: plain JS over this server's Kolada v3-compatible API. No external files.
// Rates and shares are compared with the kommun's "Liknande kommuner IFO" (Kolada group mean), its län
// and Riket; a count is never drawn against län or Riket. Numbers are shown as the API gives them.
"use strict";

const $ = (id) => document.getElementById(id);
const RIKET = "0000";
const GENDER = { T: "Totalt", K: "Kvinnor", M: "Män" };
const HINT = { "..": "Skyddat värde: få ärenden, eller dolt för att skydda ett annat värde (se teckenförklaringen)",
  "–": "Uppgift saknas (se teckenförklaringen)" };
const state = {
  kpis: [], defs: {}, footnotes: [], munis: {}, county: {}, counties: {}, similar: {}, skr: {}, skrGroups: {},
  periods: {}, release: "", rows: [], sort: { key: "rank", dir: 1 }, kpi: null,
};

async function getJSON(url) {
  const response = await fetch(url);
  if (!response.ok) throw new Error(url + ": " + response.status);
  return response.json();
}

// Every page of a Kolada answer (follows next_url).
async function getAll(url) {
  let values = [];
  while (url) {
    const body = await getJSON(url);
    values = values.concat(body.values);
    url = body.next_url;
  }
  return values;
}

function option(select, value, text) {
  const o = document.createElement("option");
  o.value = value;
  o.textContent = text;
  select.appendChild(o);
}

function isCount() { return state.defs[state.kpi.id] && state.defs[state.kpi.id].unit === "count"; }
function divided() { return !!state.kpi.is_divided_by_gender; }
function gender() { return divided() ? $("gender").value : "T"; }

function fmt(v) {
  const digits = isCount() ? 0 : 1;
  return v.toLocaleString("sv-SE", { minimumFractionDigits: digits, maximumFractionDigits: digits });
}

// One gender of one entry: {value: number|null, shown: text}; ".." hidden, "–" missing.
function pick(entry, g) {
  const v = entry && entry.values.find((x) => x.gender === g);
  if (!v) return { value: null, shown: "–" };
  if (v.status === "..") return { value: null, shown: ".." };
  if (v.value === null || v.value === undefined) return { value: null, shown: "–" };
  return { value: v.value, shown: fmt(v.value), count: v.count };
}

function periodLabel(p) {
  const status = state.periods[String(p)] === "final" ? "" : " (preliminärt)";
  return (/Q/.test(String(p)) ? "Kvartal " : "År ") + p + status;
}

function params() {
  return new URLSearchParams({ kpi: state.kpi.id, period: $("period").value, gender: gender(),
    municipality: $("municipality").value, period_type: /Q/.test($("period").value) ? "quarter" : "year" });
}

function remember() {
  history.replaceState(null, "", "?" + params().toString());
}

async function init() {
  const [kpis, munis, meta, defs, release] = await Promise.all([
    getAll("/v3/kpi"), getAll("/v3/municipality"), getJSON("/meta/counties.json"), getJSON("/meta/kpis.json"),
    getJSON("/meta/release.json"),
  ]);
  state.kpis = kpis;
  state.defs = defs.kpis;
  state.footnotes = defs.footnotes;
  munis.forEach((m) => { state.munis[m.id] = m; });
  Object.assign(state, { county: meta.municipality_county, counties: meta.counties, similar: meta.similar_group,
    skr: meta.skr_group, skrGroups: meta.skr_groups, periods: release.periods, release: release.release });
  $("release").textContent = "Årgång " + release.release + " (publicerad " + String(release.created).slice(0, 10) + ")";
  const wanted = new URLSearchParams(location.search);
  // Default: a rate (per 10 000 invånare) rather than a raw count.
  const firstRate = kpis.find((k) => (state.defs[k.id] || {}).unit === "rate") || kpis[0];
  kpis.forEach((k) => option($("kpi"), k.id, k.title + " (" + k.id + ")"));
  $("kpi").value = kpis.some((k) => k.id === wanted.get("kpi")) ? wanted.get("kpi") : firstRate.id;
  // Default period: the latest final year; if no year is final yet, the latest year.
  const periods = Object.keys(state.periods).sort((a, b) => periodOrder(b) - periodOrder(a));
  periods.forEach((p) => option($("period"), p, periodLabel(p)));
  const years = periods.filter((p) => !/Q/.test(p));
  const finalYear = years.find((p) => state.periods[p] === "final") || years[0] || periods[0];
  $("period").value = periods.includes(wanted.get("period")) ? wanted.get("period") : finalYear;
  if (["T", "K", "M"].includes(wanted.get("gender"))) $("gender").value = wanted.get("gender");
  const kommuner = munis.filter((m) => m.type === "K").sort((a, b) => a.title.localeCompare(b.title, "sv"));
  kommuner.forEach((m) => option($("municipality"), m.id, m.title));
  $("municipality").value = state.munis[wanted.get("municipality")] ? wanted.get("municipality") : "0180";
  Object.entries(state.counties).sort((a, b) => a[1].localeCompare(b[1], "sv"))
    .forEach(([id, name]) => option($("filter-lan"), id, name));
  Object.entries(state.skrGroups).sort((a, b) => a[1].localeCompare(b[1], "sv"))
    .forEach(([id, name]) => option($("filter-skr"), id, name.replace(" (ovägt medel)", "")));
  const notes = $("footnote-list");
  state.footnotes.forEach((f) => {
    const dt = document.createElement("dt");
    dt.textContent = f.sign;
    const dd = document.createElement("dd");
    dd.textContent = f.text;
    notes.appendChild(dt);
    notes.appendChild(dd);
  });
  $("kpi").addEventListener("change", () => refresh());
  $("period").addEventListener("change", () => refresh());
  $("gender").addEventListener("change", () => refresh());
  $("municipality").addEventListener("change", () => { remember(); markSelected(); guard(loadSeries()); });
  ["search", "filter-lan", "filter-skr"].forEach((id) => $(id).addEventListener("input", renderRanking));
  document.querySelectorAll("#ranking th button").forEach((b) => b.addEventListener("click", () => {
    const key = b.dataset.sort;
    state.sort = { key: key, dir: state.sort.key === key ? -state.sort.dir : (key === "value" ? -1 : 1) };
    renderRanking();
  }));
  await refresh();
}

function periodOrder(p) {
  const s = String(p);
  return Number(s.slice(0, 4)) * 10 + (/Q/.test(s) ? Number(s.slice(5)) : 5);
}

function guard(promise) {
  return promise.catch((err) => { $("status").textContent = "Kunde inte hämta data: " + err.message; });
}

async function refresh() {
  document.body.dataset.ready = "0";
  state.kpi = state.kpis.find((k) => k.id === $("kpi").value);
  $("gender").disabled = !divided();
  $("gender-note").hidden = divided();
  remember();
  showDefinition();
  await Promise.all([loadRanking(), loadSeries()]);
  document.body.dataset.ready = "1";
}

function showDefinition() {
  const d = state.defs[state.kpi.id] || {};
  $("def-description").textContent = state.kpi.description;
  $("def-unit").textContent = d.unit_label || "";
  $("def-numerator").textContent = d.numerator || "";
  $("def-denominator").textContent = d.denominator || "";
  $("def-reading").textContent = (d.reading || "") + (divided() ? "" : " (Ej könsuppdelad.)");
}

async function loadRanking() {
  const period = $("period").value;
  $("status").textContent = "Hämtar …";
  const entries = await getAll("/v3/data/kpi/" + state.kpi.id + "/year/" + period);
  const byId = {};
  entries.forEach((e) => { byId[e.municipality] = e; });
  const g = gender();
  const rows = Object.values(state.munis).filter((m) => m.type === "K").map((m) => {
    const lan = state.county[m.id];
    const own = pick(byId[m.id], g);
    return { id: m.id, title: m.title, value: own.value, shown: own.shown, lan: lan,
      lanTitle: state.counties[lan] || "", lanShown: pick(byId[lan], g).shown, skr: state.skr[m.id],
      skrTitle: (state.skrGroups[state.skr[m.id]] || "").replace(" (ovägt medel)", "") };
  });
  rows.sort((a, b) => (a.value === null) - (b.value === null) || (b.value - a.value) ||
    a.title.localeCompare(b.title, "sv"));
  rows.forEach((r, i) => {
    r.rank = r.value === null ? null : (i > 0 && rows[i - 1].value === r.value ? rows[i - 1].rank : i + 1);
  });
  state.rows = rows;
  const riket = pick(byId[RIKET], g);
  $("table-title").textContent = "Rangordning – " + state.kpi.title + ", " + periodLabel(period) +
    (divided() ? ", " + GENDER[g].toLowerCase() : "");
  $("riket").textContent = "Riket: " + riket.shown + (isCount() ? " ärenden" : "");
  const q = params();
  $("ranking-csv").href = "/download/ranking.csv?" + q;
  $("ranking-xlsx").href = "/download/ranking.xlsx?" + q;
  $("status").textContent = "";
  renderRanking();
}

function renderRanking() {
  const text = $("search").value.trim().toLowerCase();
  const lan = $("filter-lan").value, skr = $("filter-skr").value;
  const shown = state.rows.filter((r) => (!text || r.title.toLowerCase().includes(text)) &&
    (!lan || r.lan === lan) && (!skr || r.skr === skr));
  const { key, dir } = state.sort;
  const cmp = {
    rank: (a, b) => (a.rank === null) - (b.rank === null) || (a.rank - b.rank) * dir,
    value: (a, b) => (a.value === null) - (b.value === null) || (a.value - b.value) * dir,
    title: (a, b) => a.title.localeCompare(b.title, "sv") * dir,
    lan: (a, b) => a.lanTitle.localeCompare(b.lanTitle, "sv") * dir || a.title.localeCompare(b.title, "sv"),
  }[key];
  shown.sort((a, b) => cmp(a, b) || a.title.localeCompare(b.title, "sv"));
  document.querySelectorAll("#ranking th").forEach((th) => {
    const b = th.querySelector("button");
    if (b) th.setAttribute("aria-sort", b.dataset.sort === key ? (dir > 0 ? "ascending" : "descending") : "none");
  });
  const body = $("ranking").querySelector("tbody");
  body.textContent = "";
  shown.forEach((r) => {
    const tr = document.createElement("tr");
    tr.dataset.municipality = r.id;
    [[r.rank === null ? "" : String(r.rank), "num"], [r.title, ""], [r.shown, "num value"], [r.lanTitle, ""],
     [r.lanShown, "num"], [r.skrTitle, ""]].forEach(([t, cls]) => {
      const td = document.createElement("td");
      td.textContent = t;
      if (cls) td.className = cls;
      if (HINT[t]) td.title = HINT[t];
      tr.appendChild(td);
    });
    body.appendChild(tr);
  });
  $("shown").textContent = "Visar " + shown.length + " av " + state.rows.length + " kommuner. Rangen gäller hela riket.";
  markSelected();
}

function markSelected() {
  document.querySelectorAll("#ranking tbody tr").forEach((tr) => {
    tr.classList.toggle("selected", tr.dataset.municipality === $("municipality").value);
  });
}

async function loadSeries() {
  const chosen = $("municipality").value;
  const lan = state.county[chosen];
  const group = state.similar[chosen];
  const type = /Q/.test($("period").value) ? "quarter" : "year";
  const count = isCount();
  const ids = count ? [chosen] : [chosen, group, lan, RIKET].filter(Boolean);
  const entries = await getAll("/v3/data/kpi/" + state.kpi.id + "/municipality/" + ids.join(",") +
    "?period_type=" + type);
  const periods = [...new Set(entries.map((e) => e.period))].sort((a, b) => periodOrder(a) - periodOrder(b));
  const byKey = {};
  entries.forEach((e) => { byKey[e.municipality + "|" + e.period] = e; });
  const title = (state.munis[chosen] || {}).title || chosen;
  const g = gender();
  const lines = [{ id: chosen, label: title, color: "#1f3a5f", width: 3, dash: "" }];
  if (!count) {
    lines.push({ id: group, label: "Liknande kommuner IFO (medel)", color: "#b35900", width: 2, dash: "6 4" });
    lines.push({ id: lan, label: state.counties[lan] || "Länet", color: "#2e7d32", width: 2, dash: "" });
    lines.push({ id: RIKET, label: "Riket", color: "#555555", width: 2, dash: "2 3" });
  }
  lines.forEach((l) => { l.points = periods.map((p) => pick(byKey[l.id + "|" + p], g)); });
  $("series-title").textContent = "Tidsserie – " + title + (count ? "" : " jämfört med liknande kommuner, länet och riket");
  $("series-note").textContent = count
    ? "Antal ärenden beror på kommunens storlek och jämförs därför inte med län och riket. Välj ett nyckeltal " +
      "per 10 000 invånare eller en andel för att jämföra. * = preliminärt."
    : "Liknande kommuner IFO är Koladas jämförelsegrupp för kommunen; värdet är ett ovägt medel av gruppens " +
      "publicerade värden. * = preliminärt.";
  const own = lines[0].points;
  const message = $("series-message");
  if (own.length && own.every((p) => p.shown === "..")) {
    message.textContent = "Alla värden för " + title + " är skyddade (..) för detta nyckeltal: de bygger på få " +
      "ärenden eller är dolda för att skydda andra värden. Jämförelsegruppernas värden visas ändå.";
    message.hidden = false;
  } else if (!own.length || own.every((p) => p.shown === "–")) {
    message.textContent = title + " har inga publicerade värden för detta nyckeltal (uppgift saknas).";
    message.hidden = false;
  } else {
    message.hidden = true;
  }
  drawSeries(periods, lines);
  seriesTable(periods, lines);
  const q = params();
  $("series-csv").href = "/download/series.csv?" + q;
  $("series-xlsx").href = "/download/series.xlsx?" + q;
}

function seriesTable(periods, lines) {
  const head = $("series-table").querySelector("thead");
  const body = $("series-table").querySelector("tbody");
  head.textContent = "";
  body.textContent = "";
  const tr = document.createElement("tr");
  ["Period", ...lines.map((l) => l.label)].forEach((t, i) => {
    const th = document.createElement("th");
    th.textContent = t;
    th.scope = "col";
    if (i) th.className = "num";
    tr.appendChild(th);
  });
  head.appendChild(tr);
  periods.forEach((p, i) => {
    const row = document.createElement("tr");
    const th = document.createElement("th");
    th.scope = "row";
    th.textContent = String(p) + (state.periods[String(p)] === "final" ? "" : " (prel.)");
    row.appendChild(th);
    lines.forEach((l) => {
      const td = document.createElement("td");
      td.className = "num";
      td.textContent = l.points[i].shown;
      if (HINT[td.textContent]) td.title = HINT[td.textContent];
      row.appendChild(td);
    });
    body.appendChild(row);
  });
}

function drawSeries(periods, lines) {
  const W = 720, H = 300, L = 52, R = 16, T = 14, B = 34;
  const NS = "http://www.w3.org/2000/svg";
  const box = $("series");
  box.textContent = "";
  const values = lines.flatMap((l) => l.points.map((p) => p.value)).filter((v) => v !== null);
  if (!periods.length || !values.length) {
    const p = document.createElement("p");
    p.className = "meta";
    p.textContent = "Inga publicerade värden att rita.";
    box.appendChild(p);
    return;
  }
  const svg = document.createElementNS(NS, "svg");
  svg.setAttribute("viewBox", "0 0 " + W + " " + H);
  svg.setAttribute("role", "img");
  svg.setAttribute("aria-label", "Tidsserie, " + lines.map((l) => l.label).join(", ") + ". Värdena finns i tabellen nedan.");
  const el = (name, attrs, text) => {
    const node = document.createElementNS(NS, name);
    Object.entries(attrs).forEach(([k, v]) => node.setAttribute(k, v));
    if (text !== undefined) node.textContent = text;
    svg.appendChild(node);
    return node;
  };
  const max = Math.max(...values) * 1.1 || 1, min = Math.min(0, ...values);
  const x = (i) => L + (periods.length === 1 ? (W - L - R) / 2 : i * (W - L - R) / (periods.length - 1));
  const y = (v) => T + (H - T - B) * (1 - (v - min) / (max - min));
  for (let k = 0; k <= 4; k++) {
    const v = min + (max - min) * k / 4;
    el("line", { x1: L, x2: W - R, y1: y(v), y2: y(v), stroke: "#e6e9ee" });
    el("text", { x: L - 6, y: y(v) + 4, "text-anchor": "end", "font-size": 12, fill: "#444" }, fmt(v));
  }
  const step = Math.ceil(periods.length / 8);
  periods.forEach((p, i) => {
    const mark = state.periods[String(p)] === "final" ? "" : "*";
    if (i % step === 0) el("text", { x: x(i), y: H - 10, "text-anchor": "middle", "font-size": 12, fill: "#444" }, String(p) + mark);
  });
  lines.slice().reverse().forEach((l) => {
    let d = "", pen = false;
    l.points.forEach((p, i) => {
      if (p.value === null) { pen = false; return; }
      d += (pen ? "L" : "M") + x(i).toFixed(1) + "," + y(p.value).toFixed(1);
      pen = true;
    });
    if (d) el("path", { d: d, fill: "none", stroke: l.color, "stroke-width": l.width, "stroke-dasharray": l.dash, "data-id": l.id });
    l.points.forEach((p, i) => { if (p.value !== null) el("circle", { cx: x(i), cy: y(p.value), r: 3.5, fill: l.color }); });
  });
  box.appendChild(svg);
  const legend = document.createElement("ul");
  legend.className = "legend";
  lines.forEach((l) => {
    const li = document.createElement("li");
    const sw = document.createElement("i");
    sw.className = "swatch";
    sw.style.borderTop = l.width + "px " + (l.dash ? "dashed " : "solid ") + l.color;
    li.appendChild(sw);
    li.appendChild(document.createTextNode(l.label));
    legend.appendChild(li);
  });
  box.appendChild(legend);
}

init().catch((err) => {
  $("status").textContent = "Kunde inte hämta data: " + err.message;
  $("status").className = "error";
  document.body.dataset.ready = "error";
});
