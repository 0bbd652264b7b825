// feedpulse dashboard: one SSE stream of server-side aggregates (GET /v1/dashboard/stream),
// drawn as SVG. No framework: the page holds at most a few thousand points.
"use strict";

const SHOWN = 60;          // windows per chart (the server keeps the same)
const MAX_CHARTS = { sentiment: 6, volume: 12, business: 6 };
const state = {
  panels: {},              // name -> {dimension, window_s, metric, rule}
  series: {},              // panel -> Map(series -> Map(start_s -> point))
  alerts: [],              // newest first, one entry per fingerprint
  clusters: { largest: [], newest: [], sparklines: {} },
  desk: { window_s: 0, rows: [] }, // the service desk's latest KPI window per ticket series
  selected: null,          // {panel, series, start, end} or {cluster}
  // Alertmanager's generatorURL points at `/#alert=<fingerprint>`: that alert is marked and opened.
  focus: (location.hash.match(/^#alert=([0-9a-f]+)$/) || [])[1] || null,
  dirty: new Set(),
};

const $ = (id) => document.getElementById(id);
const esc = (s) => String(s).replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]);
// Times are shown in the zone of the dataflow's calendar (the snapshot names it), as the
// demo's console and the day windows have them.
let clockFormat = null;
const clockIn = (zone) => {
  try {
    return new Intl.DateTimeFormat("en-GB", { timeZone: zone, hour: "2-digit", minute: "2-digit", second: "2-digit", hourCycle: "h23" });
  } catch (e) {
    return new Intl.DateTimeFormat("en-GB", { timeZone: "UTC", hour: "2-digit", minute: "2-digit", second: "2-digit", hourCycle: "h23" });
  }
};
const clock = (when) => (clockFormat || clockIn("UTC")).format(new Date(when));
const hhmm = (sec) => clock(sec * 1000).slice(0, 5);
const epoch = (rfc) => Math.floor(Date.parse(rfc) / 1000);
const fmt = (metric, v) => (v == null ? "–" : metric === "negative_share" ? (v * 100).toFixed(1) + "%" : metric === "mean" ? v.toFixed(2) : metric === "count" ? String(Math.round(v * 10) / 10) : String(Math.round(v * 1000) / 1000));

// With access tokens on, the page is opened as `/?access_token=…` and passes it on (EventSource
// cannot send an Authorization header).
const accessToken = new URLSearchParams(location.search).get("access_token");
const authorised = (url) => (accessToken ? `${url}${url.includes("?") ? "&" : "?"}access_token=${encodeURIComponent(accessToken)}` : url);

function connect() {
  const source = new EventSource(authorised("/v1/dashboard/stream"));
  source.addEventListener("snapshot", (e) => snapshot(JSON.parse(e.data)));
  source.addEventListener("windows", (e) => windows(JSON.parse(e.data)));
  source.addEventListener("alert", (e) => alert(JSON.parse(e.data)));
  source.addEventListener("clusters", (e) => { state.clusters = JSON.parse(e.data); renderClusters(); });
  source.addEventListener("status", (e) => renderStatus(JSON.parse(e.data)));
  source.addEventListener("desk", (e) => { state.desk = JSON.parse(e.data); renderDesk(); });
  // Fell behind the server's buffer: a fresh connection starts with a full snapshot.
  source.addEventListener("lagged", () => { source.close(); connect(); });
  source.onerror = () => { $("status").className = "status down"; $("status-text").textContent = "disconnected, retrying…"; };
}

function snapshot(s) {
  clockFormat = clockIn(s.timezone || "UTC");
  state.panels = {};
  for (const p of s.panels) state.panels[p.name] = p;
  state.series = {};
  for (const p of s.windows) windows(p);
  state.alerts = [];
  for (const a of s.alerts.slice().reverse()) upsertAlert(a);
  renderAlerts();
  state.clusters = s.clusters;
  renderClusters();
  if (s.desk) state.desk = s.desk;
  renderDesk();
  renderStatus(s.status);
  for (const name of Object.keys(state.panels)) { legend(name); state.dirty.add(name); }
  schedule();
  const focused = state.focus && document.querySelector(`li.alert[data-fingerprint="${state.focus}"]`);
  if (focused) { focused.scrollIntoView({ block: "center" }); focused.click(); }
}

function windows(msg) {
  const panel = (state.series[msg.panel] ||= new Map());
  for (const { series, points } of msg.series) {
    const line = panel.get(series) || new Map();
    panel.set(series, line);
    for (const p of points) line.set(p.s, p);
    if (line.size > SHOWN * 2) {
      const keep = [...line.keys()].sort((a, b) => a - b).slice(-SHOWN);
      for (const k of [...line.keys()]) if (!keep.includes(k)) line.delete(k);
    }
  }
  state.dirty.add(msg.panel);
  schedule();
}

function upsertAlert(a) {
  state.alerts = state.alerts.filter((x) => x.fingerprint !== a.fingerprint);
  state.alerts.unshift(a);
  state.alerts.length = Math.min(state.alerts.length, 100);
}

// Alerts are drawn as they arrive (not on the next frame): the feed is what people watch.
function alert(a) {
  upsertAlert(a);
  renderAlerts();
  if (a.rule === "handoff" || a.rule === "sla_breach" || a.rule === "threshold") renderDesk();
  for (const name of Object.keys(state.panels)) state.dirty.add(name);
  schedule();
}

let frame = 0;
function schedule() {
  if (!frame) frame = requestAnimationFrame(() => { frame = 0; for (const p of state.dirty) renderPanel(p); state.dirty.clear(); });
}

function legend(name) {
  const p = state.panels[name];
  const what = p.metric === "count" ? "messages" : p.metric === "negative_share" ? "negative share" : "mean sentiment";
  const rule = p.rule ? `band: baseline → threshold of rule <b>${esc(p.rule)}</b>` : "no rule watches this panel";
  $(`${name}-legend`).innerHTML = `${what} per ${p.window_s / 60}-minute window, by ${esc(p.dimension)} · ${rule}` +
    `<i style="background:var(--value);height:2px"></i>value<i style="background:var(--band)"></i>band` +
    `<i style="border-top:1px dashed var(--threshold)"></i>threshold<i style="background:rgba(240,96,90,.5)"></i>alert` +
    (name === "sentiment" && p.metric !== "mean" ? `<i style="background:var(--mean);height:2px"></i>mean sentiment (−1 bottom … 1 top)` : "");
}

// Window alerts (spikes, dips) of this series, firing or already resolved: their windows stay
// marked on the chart while they are in view.
function alertsFor(panel, series) {
  return state.alerts.filter((a) => a.labels[panel.dimension] === series && (a.rule === "spike" || a.rule === "sentiment_dip"));
}

function renderPanel(name) {
  const panel = state.panels[name];
  const lines = state.series[name];
  const box = $(`${name}-charts`);
  if (!panel || !box) return;
  if (!lines || lines.size === 0) { box.innerHTML = `<p class="empty">waiting for the first ${esc(panel.dimension)} windows…</p>`; return; }
  const size = panel.window_s;
  let latest = -Infinity;
  for (const line of lines.values()) for (const s of line.keys()) latest = Math.max(latest, s);
  const from = latest - (SHOWN - 1) * size;
  const shown = [...lines.entries()]
    .map(([series, line]) => ({ series, line, recent: [...line.values()].filter((p) => p.s > latest - 10 * size).reduce((n, p) => n + p.n, 0) }))
    .filter((x) => [...x.line.keys()].some((s) => s >= from))
    .sort((a, b) => b.recent - a.recent || a.series.localeCompare(b.series))
    .slice(0, MAX_CHARTS[name] || 12);
  box.innerHTML = shown.map(({ series, line }) => chart(name, panel, series, line, from, latest)).join("");
}

function chart(name, panel, series, line, from, latest) {
  const size = panel.window_s, W = 300, H = 70, top = 4, bottom = H - 2, dx = W / SHOWN;
  const pts = [];
  for (let k = 0; k < SHOWN; k++) {
    const s = from + k * size, p = line.get(s);
    // A window with no message is an empty window: zero messages, no sentiment.
    pts.push(p || (panel.metric === "count" ? { s, n: 0, v: 0 } : null));
  }
  const known = pts.filter(Boolean);
  let lo = 0, hi = 1;
  if (panel.metric === "count") hi = Math.max(1, ...known.map((p) => Math.max(p.v, p.t ?? 0))) * 1.1;
  if (panel.metric === "mean") lo = -1;
  const x = (k) => k * dx + dx / 2;
  const y = (v) => bottom - ((Math.min(Math.max(v, lo), hi) - lo) / (hi - lo)) * (bottom - top);
  const path = (key) => {
    let d = "", pen = false;
    pts.forEach((p, k) => {
      const v = p && p[key];
      if (v == null) { pen = false; return; }
      d += `${pen ? "L" : "M"}${x(k).toFixed(1)},${y(v).toFixed(1)}`;
      pen = true;
    });
    return d;
  };
  const banded = pts.map((p, k) => [p, k]).filter(([p]) => p && p.b != null && p.t != null);
  const band = banded.length
    ? `<path class="band" d="M${banded.map(([p, k]) => `${x(k).toFixed(1)},${y(p.t).toFixed(1)}`).join("L")}L${banded.reverse().map(([p, k]) => `${x(k).toFixed(1)},${y(p.b).toFixed(1)}`).join("L")}Z"/>`
    : "";
  const rect = (start, end, cls) => {
    const k0 = Math.max(0, Math.floor((start - from) / size)), k1 = Math.min(SHOWN, Math.ceil((end - from) / size));
    return k1 > k0 ? `<rect class="${cls}" x="${(k0 * dx).toFixed(1)}" y="0" width="${((k1 - k0) * dx).toFixed(1)}" height="${H}"/>` : "";
  };
  const alerts = alertsFor(panel, series);
  const firing = alerts.filter((a) => a.status === "firing");
  const alerted = alerts.map((a) => rect(epoch(a.window.start), epoch(a.window.end), "alerted")).join("");
  const sel = state.selected;
  const picked = sel && sel.panel === name && sel.series === series;
  const last = line.get(Math.max(...line.keys()));
  // A share threshold above 100% (few messages, wide error) cannot be crossed: say so.
  const t = last && last.t;
  const threshold = t == null ? "" : ` · threshold ${panel.metric === "negative_share" && t > 1 ? "out of reach" : fmt(panel.metric, t)}`;
  // Sentiment charts also draw the mean sentiment, on its own −1…1 scale over the same height.
  const withMean = name === "sentiment" && panel.metric !== "mean";
  const meanY = (m) => bottom - ((Math.min(Math.max(m, -1), 1) + 1) / 2) * (bottom - top);
  let meanPath = "";
  if (withMean) {
    let pen = false;
    pts.forEach((p, k) => {
      if (!p || p.m == null) { pen = false; return; }
      meanPath += `${pen ? "L" : "M"}${x(k).toFixed(1)},${meanY(p.m).toFixed(1)}`;
      pen = true;
    });
  }
  const meanTitle = withMean && last ? ` · mean ${last.m.toFixed(2)}` : "";
  return `<div class="chart${picked ? " selected" : ""}${firing.length ? " firing" : ""}" data-panel="${name}" data-series="${esc(series)}" data-points="${known.filter((p) => p.n > 0).length}">
<div class="title"><b>${esc(series)}</b><span>${fmt(panel.metric, last ? last.v : null)}${meanTitle}${threshold}</span></div>
<svg viewBox="0 0 ${W} ${H}" preserveAspectRatio="none">${rect(latest, latest + size, "current")}${alerted}${band}
<path class="threshold" d="${path("t")}"/>${withMean ? `<path class="mean" d="${meanPath}"/>` : ""}<path class="value" d="${path("v")}"/>${picked ? rect(sel.start, sel.end, "picked") : ""}</svg>
<div class="axis"><span>${hhmm(from)}</span><span>${hhmm(latest + size)}</span></div></div>`;
}

function alertItem(a) {
  const labels = Object.entries(a.labels).filter(([k]) => !["alertname", "severity", "rule"].includes(k));
  const key = labels.filter(([k]) => ["business", "category", "campaign", "channel", "cluster", "risk", "agent", "ticket", "sla", "conversation", "priority"].includes(k)).map(([k, v]) => `${esc(k)}=${esc(v)}`).join(" ");
  const b = a.baseline, ex = a.explanation;
  let numbers = "";
  if (a.rule === "spike" || a.rule === "sentiment_dip") {
    const panel = Object.values(state.panels).find((p) => p.rule === a.labels.rule);
    const metric = a.rule === "spike" ? "count" : panel ? panel.metric : "plain";
    numbers = `value ${fmt(metric, a.value)} vs baseline ${fmt(metric, b.mean)} (threshold ${fmt(metric, b.threshold)}, ${b.windows} windows${b.same_window_yesterday != null ? `, yesterday ${b.same_window_yesterday}` : ""})`;
  } else if (a.rule === "new_cluster") numbers = `${ex.count} messages · sentiment ${ex.sentiment_mean.toFixed(2)}`;
  else if (a.rule === "high_risk") numbers = `sentiment ${a.value.toFixed(2)}`;
  const cluster = ex.cluster_id || a.labels.cluster;
  const goto = cluster ? `→ cluster ${esc(cluster)}` : `→ ${key} window ${hhmm(epoch(a.window.start))}–${hhmm(epoch(a.window.end))}`;
  const when = a.status === "firing" ? a.starts_at : a.ends_at || a.starts_at;
  const focused = a.fingerprint === state.focus ? " focused" : "";
  return `<li class="alert ${a.status} sev-${esc(a.severity)}${focused}" data-fingerprint="${esc(a.fingerprint)}" data-rule="${esc(a.rule)}" data-status="${a.status}">
<div class="head"><span class="badge">${a.status.toUpperCase()}</span><b>${esc(a.labels.rule || a.rule)}</b><span>${key}</span><span class="when">${esc(clock(when))}</span></div>
<div class="summary">${esc(a.summary)}</div>${a.llm_summary ? `<div class="llm" title="written by the [summarizer] model from the masked explanation">${esc(a.llm_summary)}</div>` : ""}${numbers ? `<div class="numbers">${numbers}</div>` : ""}
${ex.drivers && ex.drivers.length ? `<div class="drivers">drivers: ${ex.drivers.map((d) => `<span title="${d.count} messages">${esc(d.dimension)} <b>${esc(d.value)}</b> ${Math.round(d.share * 100)}% <i>(usually ${Math.round(d.usual_share * 100)}%)</i></span>`).join(" · ")}</div>` : ""}
${ex.keywords.length ? `<div class="chips">${ex.keywords.map((k) => `<span>${esc(k)}</span>`).join("")}</div>` : ""}
${ex.samples.length ? `<ul class="samples">${ex.samples.slice(0, 3).map((s) => `<li>“${esc(s)}”</li>`).join("")}</ul>` : ""}
<a class="goto">${goto}</a></li>`;
}

// The time each alert was first drawn, so a test (or a person) can compare it with when it fired.
const shownAt = new Map();
function renderAlerts() {
  $("alerts").innerHTML = state.alerts.map(alertItem).join("") || `<li class="empty">no alerts yet</li>`;
  const firing = state.alerts.filter((a) => a.status === "firing").length;
  $("alert-count").textContent = `${firing} firing`;
  const now = Date.now();
  for (const li of $("alerts").querySelectorAll("li.alert")) {
    const key = li.dataset.fingerprint + "/" + li.dataset.status;
    if (!shownAt.has(key)) shownAt.set(key, now);
    li.dataset.shownMs = shownAt.get(key);
  }
}

// The service desk: firing hand-offs and SLA breaches (from the alerts), and each ticket
// series' latest KPI window; a series whose threshold alert fires is marked.
const secs = (v) => (v == null ? "–" : v >= 120 ? `${(v / 60).toFixed(1)} min` : `${Math.round(v)} s`);
function renderDesk() {
  const firing = state.alerts.filter((a) => a.status === "firing");
  const item = (a, what) => `<li class="open sev-${esc(a.severity)}" data-fingerprint="${esc(a.fingerprint)}"><b>${esc(what)}</b> <span class="meta">${esc(a.summary)}</span> <span class="when">${esc(clock(a.starts_at))}</span></li>`;
  const handoffs = firing.filter((a) => a.rule === "handoff");
  $("handoffs").innerHTML = handoffs.map((a) => item(a, `${a.labels.priority || ""} ${a.labels.conversation}`)).join("") || `<li class="empty">none</li>`;
  const breaches = firing.filter((a) => a.rule === "sla_breach");
  $("breaches").innerHTML = breaches.map((a) => item(a, `${a.labels.ticket} · ${a.labels.sla}`)).join("") || `<li class="empty">none</li>`;
  const hot = new Set(firing.filter((a) => a.rule === "threshold").flatMap((a) => ["agent", "business", "overall"].filter((k) => a.labels[k]).map((k) => `${k}=${a.labels[k]}`)));
  const { window_s, rows } = state.desk;
  $("desk-window").textContent = window_s ? `${window_s / 60} min windows` : "";
  $("kpi-rows").innerHTML = rows.map((r) => {
    const id = `${r.key}=${r.value}`;
    return `<tr class="${hot.has(id) ? "firing" : ""}" data-series="${esc(id)}"><td>${esc(r.key === "overall" ? "all tickets" : `${r.key} ${r.value}`)} <span class="meta">${hhmm(r.window_start)}</span></td><td>${r.opened}</td><td>${r.resolved}</td><td>${r.handed_off}</td><td class="${r.breaches > 0 ? "neg" : ""}">${r.breaches}</td><td>${secs(r.first_response_p90_s)}</td><td>${secs(r.takeover_p90_s)}</td><td>${secs(r.handling_mean_s)}</td><td class="${r.qa_violations > 0 ? "neg" : ""}" title="${r.qa_violations} QA violations">${r.qa_mean == null ? "–" : Math.round(r.qa_mean)}</td></tr>`;
  }).join("") || `<tr><td colspan="9" class="empty">no ticket events yet</td></tr>`;
}

function sparkline(points) {
  if (!points || points.length < 2) return `<svg viewBox="0 0 90 34"></svg>`;
  const hi = Math.max(1, ...points.map((p) => p[1]));
  const t0 = points[0][0], t1 = points[points.length - 1][0];
  const d = points.map(([s, n], i) => `${i ? "L" : "M"}${(((s - t0) / Math.max(1, t1 - t0)) * 88 + 1).toFixed(1)},${(32 - (n / hi) * 30).toFixed(1)}`).join("");
  return `<svg viewBox="0 0 90 34" preserveAspectRatio="none"><path class="spark" d="${d}"/></svg>`;
}

function clusterCard(c) {
  const sent = c.sentiment_mean;
  const cats = Object.entries(c.categories).sort((a, b) => b[1] - a[1]).slice(0, 2).map(([k]) => esc(k)).join(", ");
  const picked = state.selected && state.selected.cluster === c.id;
  return `<div class="cluster${picked ? " selected" : ""}" data-id="${esc(c.id)}" data-size="${c.size}">
<div><b>${esc(c.id)}</b> <span class="meta">${c.size} msgs · <span class="${sent < -0.2 ? "neg" : sent > 0.2 ? "pos" : ""}">sentiment ${sent.toFixed(2)}</span> · ${esc(c.scope)}</span></div>
${sparkline(state.clusters.sparklines[c.id])}
<div class="chips">${c.keywords.slice(0, 6).map((k) => `<span>${esc(k)}</span>`).join("")}</div>
<div class="meta">since ${esc(clock(c.first_seen).slice(0, 5))}${cats ? ` · ${cats}` : ""}</div>
${c.samples.length ? `<div class="sample">“${esc(c.samples[0])}”</div>` : ""}</div>`;
}

function renderClusters() {
  const { largest, newest } = state.clusters;
  $("clusters-largest").innerHTML = largest.map(clusterCard).join("") || `<p class="empty">no established cluster yet</p>`;
  $("clusters-newest").innerHTML = newest.map(clusterCard).join("") || `<p class="empty">no established cluster yet</p>`;
}

function renderStatus(s) {
  $("status").className = "status live";
  const parts = [
    `${Math.round(s.events_per_s).toLocaleString("en")} events/s`,
    `${s.accepted.toLocaleString("en")} accepted`,
    `lag ${s.lag_ticks} ticks`,
    `${s.dead_letters} dead letters`,
    `models: ${s.models}`,
  ];
  if (s.event_time) parts.push(`event time ${clock(s.event_time)}`);
  $("status-text").textContent = parts.join(" · ");
}

// Click-through: an alert opens its cluster, or selects its window on the chart of its key.
$("alerts").addEventListener("click", (e) => {
  const li = e.target.closest("li.alert");
  const a = li && state.alerts.find((x) => x.fingerprint === li.dataset.fingerprint);
  if (!a) return;
  const cluster = a.explanation.cluster_id || a.labels.cluster;
  if (cluster) return showCluster(cluster, a);
  for (const [name, p] of Object.entries(state.panels)) {
    const series = a.labels[p.dimension];
    if (series === undefined) continue;
    state.selected = { panel: name, series, start: epoch(a.window.start), end: epoch(a.window.end) };
    renderPanel(name);
    const el = document.querySelector(`.chart[data-panel="${name}"][data-series="${CSS.escape(series)}"]`);
    if (el) el.scrollIntoView({ behavior: "smooth", block: "center" });
  }
});

$("clusters").addEventListener("click", (e) => {
  const card = e.target.closest(".cluster");
  if (card) showCluster(card.dataset.id);
});

// The cluster board is published once a second, so a cluster that has just raised its alert
// may not be listed yet: show what the alert knows, then the cluster's own record.
async function showCluster(id, fromAlert) {
  state.selected = { cluster: id };
  renderClusters();
  const box = $("cluster-detail");
  box.hidden = false;
  if (fromAlert) {
    const ex = fromAlert.explanation;
    box.innerHTML = `<b>${esc(id)}</b> · ${ex.count} messages · sentiment ${ex.sentiment_mean.toFixed(2)}
<div class="chips">${ex.keywords.map((k) => `<span>${esc(k)}</span>`).join("")}</div>
<ul class="samples">${ex.samples.map((s) => `<li>“${esc(s)}”</li>`).join("")}</ul>`;
  }
  box.scrollIntoView({ behavior: "smooth", block: "nearest" });
  for (let attempt = 0; attempt < 4; attempt++) {
    const reply = await fetch(authorised(`/v1/clusters/${encodeURIComponent(id)}`));
    if (state.selected?.cluster !== id) return;
    if (reply.ok) return clusterDetail(await reply.json());
    await new Promise((done) => setTimeout(done, 500));
  }
  if (!fromAlert) box.innerHTML = `<b>${esc(id)}</b> <span class="empty">not established, or expired</span>`;
}

function clusterDetail(c) {
  const counts = (m) => Object.entries(m).sort((a, b) => b[1] - a[1]).map(([k, n]) => `${esc(k)} ${n}`).join(", ");
  $("cluster-detail").innerHTML = `<b>${esc(c.id)}</b> · ${c.size} messages · sentiment ${c.sentiment_mean.toFixed(2)} · negative ${(c.negative_share * 100).toFixed(0)}%
<div class="chips">${c.keywords.map((k) => `<span>${esc(k)}</span>`).join("")}</div>
<div class="meta">first ${esc(c.first_seen)} · last ${esc(c.last_seen)}<br>categories: ${counts(c.categories)}<br>channels: ${counts(c.channels)}</div>
<ul class="samples">${c.samples.map((s) => `<li>“${esc(s)}”</li>`).join("")}</ul>`;
}

// Digests of the `[[report]]` schedules (GET /v1/reports, newest first): a new one is released
// at most once a day per report, so a poll a minute is plenty.
const reports = { list: [], shown: null };
async function loadReports() {
  try {
    const reply = await fetch(authorised("/v1/reports"));
    if (!reply.ok) return;
    reports.list = await reply.json();
  } catch (_) {
    return;
  }
  const pick = $("report-pick");
  const key = (d) => `${d.report} · ${d.date}`;
  pick.hidden = reports.list.length === 0;
  pick.innerHTML = reports.list.map((d, i) => `<option value="${i}">${esc(key(d))}</option>`).join("");
  const keep = reports.list.findIndex((d) => key(d) === reports.shown);
  pick.value = String(keep >= 0 ? keep : 0);
  showReport();
}
function showReport() {
  const d = reports.list[Number($("report-pick").value)];
  if (!d) return;
  reports.shown = `${d.report} · ${d.date}`;
  $("report-text").textContent = d.markdown;
}
$("report-pick").addEventListener("change", showReport);

connect();
loadReports();
setInterval(loadReports, 60000);
