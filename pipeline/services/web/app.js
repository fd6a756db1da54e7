// Comparison page: plain JS over the Kolada v3-compatible API of this server. No external files.
"use strict";

const $ = (id) => document.getElementById(id);
const RIKET = "0000";
const state = { kpis: [], munis: {}, county: {}, counties: {}, rows: [], kpi: null, period: null };

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

function chunks(list, size) {
  const out = [];
  for (let i = 0; i < list.length; i += size) out.push(list.slice(i, i + size));
  return out;
}

function fmt(v, kpi) {
  if (v === null || v === undefined) return null;
  const digits = kpi && kpi.id && kpi.id.startsWith("SUKF01") ? 0 : 1;
  return v.toLocaleString("sv-SE", { minimumFractionDigits: digits, maximumFractionDigits: digits });
}

// Display text of one gender value: number, ".." (suppressed) or "–" (missing).
function cell(entry, gender) {
  const v = entry && entry.values.find((x) => x.gender === gender);
  if (!v) return "–";
  if (v.status === "..") return "..";
  if (v.value === null || v.value === undefined) return "–";
  return fmt(v.value, state.kpi);
}

function numeric(entry) {
  const v = entry && entry.values.find((x) => x.gender === "T");
  return v && v.value !== null && v.value !== undefined && v.status !== ".." ? v.value : null;
}

function option(select, value, text) {
  const o = document.createElement("option");
  o.value = value;
  o.textContent = text;
  select.appendChild(o);
}

function periodKey(p) { return String(p); }
function periodSort(a, b) { return periodKey(a).localeCompare(periodKey(b)); }

async function init() {
  const [kpis, munis, meta, releases] = await Promise.all([
    getAll("/v3/kpi"), getAll("/v3/municipality"), getJSON("/meta/counties.json"), getJSON("/releases"),
  ]);
  state.kpis = kpis;
  munis.forEach((m) => { state.munis[m.id] = m; });
  state.county = meta.municipality_county;
  state.counties = meta.counties;
  const latest = releases.vintages[releases.vintages.length - 1];
  if (latest) $("release").textContent = "Årgång " + latest.vintage +
    " (publicerad " + String(latest.created).slice(0, 10) + ")";
  kpis.forEach((k) => option($("kpi"), k.id, k.id + " – " + k.title));
  munis.filter((m) => m.type === "K").sort((a, b) => a.title.localeCompare(b.title, "sv"))
    .forEach((m) => option($("municipality"), m.id, m.title));
  $("kpi").addEventListener("change", () => loadKpi());
  $("period").addEventListener("change", () => loadTable());
  $("municipality").addEventListener("change", () => { markSelected(); loadSeries(); });
  $("download").addEventListener("click", downloadCsv);
  await loadKpi();
}

async function loadKpi() {
  state.kpi = state.kpis.find((k) => k.id === $("kpi").value);
  const riket = await getAll("/v3/data/kpi/" + state.kpi.id + "/municipality/" + RIKET + "?period_type=all");
  const periods = [...new Set(riket.map((e) => e.period))].sort(periodSort).reverse();
  const previous = $("period").value;
  $("period").innerHTML = "";
  periods.forEach((p) => option($("period"), p, typeof p === "number" ? "År " + p : "Kvartal " + p));
  if (periods.map(String).includes(previous)) $("period").value = previous;
  await loadTable();
}

async function loadTable() {
  const period = $("period").value;
  state.period = period;
  $("status").textContent = "Hämtar …";
  const entries = await getAll("/v3/data/kpi/" + state.kpi.id + "/year/" + period);
  const byId = {};
  entries.forEach((e) => { byId[e.municipality] = e; });
  const kommuner = Object.values(state.munis).filter((m) => m.type === "K");
  const rows = kommuner.map((m) => {
    const lan = state.county[m.id];
    return { id: m.id, title: m.title, entry: byId[m.id], value: numeric(byId[m.id]), lan: lan,
      lanTitle: state.counties[lan] || (state.munis[lan] || {}).title || "", lanEntry: byId[lan] };
  });
  rows.sort((a, b) => (a.value === null) - (b.value === null) || (b.value - a.value) ||
    a.title.localeCompare(b.title, "sv"));
  let rank = 0;
  rows.forEach((r, i) => { if (r.value !== null) rank = (i > 0 && rows[i - 1].value === r.value) ? rank : i + 1; r.rank = r.value === null ? "" : rank; });
  state.rows = rows;
  state.riket = byId[RIKET];
  $("table-title").textContent = "Rangordning – " + state.kpi.title + ", " + period;
  $("riket").textContent = "Riket: " + cell(byId[RIKET], "T") + " (kvinnor " + cell(byId[RIKET], "K") +
    ", män " + cell(byId[RIKET], "M") + ")";
  const body = $("ranking").querySelector("tbody");
  body.innerHTML = "";
  rows.forEach((r) => {
    const tr = document.createElement("tr");
    tr.dataset.municipality = r.id;
    [[r.rank, "num"], [r.title, ""], [cell(r.entry, "T"), "num value"], [cell(r.entry, "K"), "num"],
     [cell(r.entry, "M"), "num"], [r.lanTitle, ""], [cell(r.lanEntry, "T"), "num"]].forEach(([text, cls]) => {
      const td = document.createElement("td");
      td.textContent = text;
      if (cls) td.className = cls;
      tr.appendChild(td);
    });
    body.appendChild(tr);
  });
  $("status").textContent = entries.length + " värden hämtade.";
  markSelected();
  await loadSeries();
}

function markSelected() {
  document.querySelectorAll("#ranking tbody tr").forEach((tr) => {
    tr.classList.toggle("selected", tr.dataset.municipality === $("municipality").value);
  });
}

async function loadSeries() {
  const chosen = $("municipality").value;
  const lan = state.county[chosen];
  const peers = Object.keys(state.county).filter((m) => state.county[m] === lan && state.munis[m]);
  const ids = [...new Set([chosen, ...peers, lan, RIKET])];
  const type = /Q/.test(state.period) ? "quarter" : "year";
  let entries = [];
  for (const group of chunks(ids, 25)) {
    entries = entries.concat(await getAll("/v3/data/kpi/" + state.kpi.id + "/municipality/" + group.join(",") +
      "?period_type=" + type));
  }
  const periods = [...new Set(entries.map((e) => e.period))].sort(periodSort);
  const series = {};
  entries.forEach((e) => { (series[e.municipality] = series[e.municipality] || {})[e.period] = numeric(e); });
  const title = (state.munis[chosen] || {}).title || chosen;
  $("series-title").textContent = "Tidsserie – " + title + " jämfört med " + (state.counties[lan] || "länet");
  drawSeries(periods, series, chosen, lan);
}

function drawSeries(periods, series, chosen, lan) {
  const W = 900, H = 300, L = 56, R = 40, T = 16, B = 36;
  const all = Object.values(series).flatMap((s) => Object.values(s)).filter((v) => v !== null);
  const NS = "http://www.w3.org/2000/svg";
  const svg = document.createElementNS(NS, "svg");
  svg.setAttribute("width", W); svg.setAttribute("height", H); svg.setAttribute("role", "img");
  svg.setAttribute("aria-label", "Tidsserie");
  const el = (name, attrs, text) => {
    const node = document.createElementNS(NS, name);
    Object.entries(attrs).forEach(([k, v]) => node.setAttribute(k, v));
    if (text !== undefined) node.textContent = text;
    svg.appendChild(node);
    return node;
  };
  const box = $("series");
  box.innerHTML = "";
  if (!periods.length || !all.length) { box.textContent = "Inga värden att visa för vald kommun."; return; }
  const max = Math.max(...all) * 1.1 || 1, min = Math.min(0, ...all);
  const x = (i) => L + (periods.length === 1 ? (W - L - R) / 2 : i * (W - L - R) / (periods.length - 1));
  const y = (v) => T + (H - T - B) * (1 - (v - min) / (max - min));
  for (let k = 0; k <= 4; k++) {
    const v = min + (max - min) * k / 4;
    el("line", { x1: L, x2: W - R, y1: y(v), y2: y(v), stroke: "#e6e9ee" });
    el("text", { x: L - 6, y: y(v) + 4, "text-anchor": "end", "font-size": 11, fill: "#555" }, fmt(v));
  }
  const step = Math.ceil(periods.length / 12);
  periods.forEach((p, i) => { if (i % step === 0) el("text", { x: x(i), y: H - 12, "text-anchor": "middle", "font-size": 11, fill: "#555" }, String(p)); });
  const line = (id, color, width) => {
    const s = series[id] || {};
    let d = "", pen = false;
    periods.forEach((p, i) => {
      const v = s[p];
      if (v === null || v === undefined) { pen = false; return; }
      d += (pen ? "L" : "M") + x(i).toFixed(1) + "," + y(v).toFixed(1);
      pen = true;
    });
    if (d) el("path", { d: d, fill: "none", stroke: color, "stroke-width": width, "data-id": id });
    periods.forEach((p, i) => { if (s[p] !== null && s[p] !== undefined && width >= 2) el("circle", { cx: x(i), cy: y(s[p]), r: 3, fill: color }); });
  };
  Object.keys(series).filter((id) => id !== chosen && id !== lan && id !== RIKET).forEach((id) => line(id, "#c9ced6", 1));
  line(RIKET, "#6b6b6b", 2);
  line(lan, "#3a7d44", 2);
  line(chosen, "#1f3a5f", 3);
  const legend = document.createElement("div");
  legend.className = "legend";
  legend.innerHTML = '<span><i class="swatch" style="background:#1f3a5f"></i>' + ((state.munis[chosen] || {}).title || chosen) +
    '</span><span><i class="swatch" style="background:#3a7d44"></i>Länet</span><span><i class="swatch" style="background:#6b6b6b"></i>Riket</span>' +
    '<span><i class="swatch" style="background:#c9ced6"></i>Övriga kommuner i länet</span>';
  box.appendChild(svg);
  box.appendChild(legend);
}

function downloadCsv() {
  const lines = [["rang", "kommunkod", "kommun", "varde", "kvinnor", "man", "lan", "lanets_varde"].join(";")];
  state.rows.forEach((r) => lines.push([r.rank, r.id, r.title, cell(r.entry, "T"), cell(r.entry, "K"),
    cell(r.entry, "M"), r.lanTitle, cell(r.lanEntry, "T")].map((v) => '"' + String(v).replace(/"/g, '""') + '"').join(";")));
  const blob = new Blob(["\ufeff" + lines.join("\r\n") + "\r\n"], { type: "text/csv;charset=utf-8" });
  const a = document.createElement("a");
  a.href = URL.createObjectURL(blob);
  a.download = state.kpi.id + "_" + state.period + ".csv";
  document.body.appendChild(a);
  a.click();
  a.remove();
}

init().catch((err) => { $("status").textContent = "Kunde inte hämta data: " + err.message; $("status").className = "error"; });
