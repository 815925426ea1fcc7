// The live dashboard: reads GET /admin/v1/overview every second with the admin token and
// draws it. No framework, no build step; every figure also carries its raw value in a
// data-value attribute, which is what the browser test compares with the API.
"use strict";

const TOKEN_KEY = "tollgate-admin-token";
const PERIOD_MS = 1000;
const HISTORY = 60;

let token = sessionStorage.getItem(TOKEN_KEY) || "";
let prev = null;        // the previous overview, for rates
let shareHistory = [];  // recent fallback shares, for the sparkline
let timer = null;

const $ = (sel) => document.querySelector(sel);

function el(tag, attrs, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (k === "class") e.className = v;
    else if (k.startsWith("data-")) e.setAttribute(k, String(v));
    else e[k] = v;
  }
  for (const c of children) {
    if (c !== null && c !== undefined) e.append(c instanceof Node ? c : String(c));
  }
  return e;
}

// usd renders micro-USD as dollars, with at least two decimals, as the gateway does.
function usd(micro) {
  const neg = micro < 0;
  let m = Math.abs(Math.round(micro));
  let frac = String(m % 1e6).padStart(6, "0").replace(/0+$/, "");
  while (frac.length < 2) frac += "0";
  return (neg ? "-$" : "$") + Math.floor(m / 1e6).toLocaleString("en-US") + "." + frac;
}

function amount(unit, n) {
  return unit === "usd" ? usd(n) : Math.round(n).toLocaleString("en-US");
}

function count(n) { return Math.round(n).toLocaleString("en-US"); }

function seconds(s) {
  if (!isFinite(s) || s <= 0) return "0 s";
  if (s < 1) return (s * 1000).toFixed(s < 0.01 ? 2 : 0) + " ms";
  return s.toFixed(s < 10 ? 2 : 0) + " s";
}

// until renders the time left before t ("in 3h 12m"), or "" for none.
function until(t, now) {
  if (!t) return "";
  let s = Math.max(0, (Date.parse(t) - now) / 1000);
  if (s < 60) return "in " + Math.ceil(s) + "s";
  const d = Math.floor(s / 86400), h = Math.floor((s % 86400) / 3600), m = Math.floor((s % 3600) / 60);
  if (d > 0) return "in " + d + "d " + h + "h";
  if (h > 0) return "in " + h + "h " + m + "m";
  return "in " + m + "m";
}

function scopeText(scope, skip) {
  return Object.entries(scope).filter(([k]) => k !== skip).map(([k, v]) => k + "=" + v).join(", ");
}

// quotaBar draws one quota: spent and held against its limit, named by its rule and its
// scope without the label skipLabel, or by its scope alone when withRule is false.
function quotaBar(q, skipLabel, withRule = true) {
  const limit = q.limit || 1;
  const spentPct = Math.min(100, (100 * q.spent) / limit);
  const heldPct = Math.min(100 - spentPct, (100 * q.held) / limit);
  const bar = el("div", { class: "bar" + (q.fraction >= 1 ? " full" : q.fraction >= 0.8 ? " warn" : "") });
  const spent = el("div", { class: "spent" });
  spent.style.width = spentPct + "%";
  const held = el("div", { class: "held" });
  held.style.left = spentPct + "%";
  held.style.width = heldPct + "%";
  bar.append(spent, held);
  const scope = scopeText(q.scope, skipLabel);
  const name = (withRule ? q.rule + (scope ? " [" + scope + "]" : "") : scope || "all requests") +
    (q.overridden ? " (override)" : "");
  let use = amount(q.unit, q.spent);
  if (q.held > 0) use += " + " + amount(q.unit, q.held) + " held";
  use += " of " + amount(q.unit, q.limit) + (q.unit === "usd" ? "" : " " + q.unit);
  return el("div", {
    class: "quota", "data-quota": q.quota_key, "data-used": q.used, "data-spent": q.spent,
    "data-held": q.held, "data-limit": q.limit,
  }, el("div", { class: "label" }, el("span", { class: "name" }, name), el("span", { class: "use" }, use)), bar);
}

function fill(tableSel, emptySel, rows) {
  const body = $(tableSel + " tbody");
  body.replaceChildren(...rows);
  $(emptySel).hidden = rows.length > 0;
}

function renderTenants(ov, now) {
  fill("#tenants", "#tenants-empty", ov.tenants.map((t) => el("tr", { "data-tenant": t.tenant },
    el("td", {}, t.tenant),
    el("td", { class: "small" }, t.keys.join(", ")),
    el("td", { class: "num", "data-field": "spent-today", "data-value": t.today.micro_usd }, usd(t.today.micro_usd)),
    el("td", {}, ...t.quotas.map((q) => {
      const b = quotaBar(q, "tenant");
      const reset = until(q.resets_at, now);
      if (reset) b.querySelector(".name").append(" · resets " + reset);
      return b;
    })),
  )));
}

function renderSessions(ov) {
  fill("#sessions", "#sessions-empty", ov.top_sessions.map((s) => el("tr", { "data-session": s.session },
    el("td", {}, s.session),
    el("td", { class: "num", "data-field": "spent", "data-value": s.spend.micro_usd }, usd(s.spend.micro_usd)),
    el("td", { class: "num" }, count(s.spend.requests)),
    el("td", { class: "num" }, count(s.spend.input_tokens) + " / " + count(s.spend.output_tokens)),
  )));
}

function renderQueue(ov) {
  const before = {};
  if (prev) for (const l of prev.queue.levels) before[l.level] = l.wait;
  $("#queue tbody").replaceChildren(...ov.queue.levels.map((l) => {
    const b = before[l.level];
    let recent = "—";
    if (b && l.wait.count > b.count) recent = seconds((l.wait.sum_seconds - b.sum_seconds) / (l.wait.count - b.count));
    return el("tr", { "data-level": l.level },
      el("td", {}, l.level),
      el("td", { class: "num", "data-field": "waiting", "data-value": l.waiting }, count(l.waiting)),
      el("td", { class: "num" }, l.wait.count > 0 ? seconds(l.wait.mean_seconds) : "—"),
      el("td", { class: "num" }, recent));
  }));
  const q = ov.queue;
  $("#queue-counters").textContent = count(q.queued) + " waiting · " + count(q.granted) + " admitted · " +
    count(q.shed) + " shed · " + count(q.timeouts) + " timed out · " + count(q.cancelled) + " gave up";
}

function renderQuotas(ov, now) {
  const rates = ov.quotas.filter((q) => q.window === "rate" || q.window === "lease");
  fill("#rates", "#rates-empty", rates.map((q) => el("tr", {},
    el("td", {}, q.rule, el("div", { class: "small" }, q.window === "rate" ? "per " + q.period_seconds + "s" : "in flight")),
    el("td", {}, quotaBar(q, "", false)),
    el("td", { class: "num" }, until(q.resets_at, now)))));
  const budgets = ov.quotas.filter((q) => q.window !== "rate" && q.window !== "lease" && !("tenant" in q.scope));
  fill("#budgets", "#budgets-empty", budgets.map((q) => el("tr", {},
    el("td", {}, q.rule, el("div", { class: "small" }, q.window)),
    el("td", {}, quotaBar(q, "", false)),
    el("td", { class: "num" }, q.window === "lifetime" ? "never" : until(q.resets_at, now)))));
}

function renderBreakers(ov, now) {
  fill("#breakers", "#breakers-empty", ov.breakers.map((b) => {
    const reset = el("button", { type: "button", title: "close the breaker and forget its failures" }, "reset");
    reset.addEventListener("click", () => resetBreaker(b.deployment));
    const state = el("span", { class: "badge " + b.state }, b.state);
    return el("tr", { "data-deployment": b.deployment, "data-state": b.state },
      el("td", {}, b.deployment),
      el("td", {}, state, b.open_until ? " " + until(b.open_until, now) : ""),
      el("td", { class: "num" }, count(b.failures)),
      el("td", { class: "num" }, reset));
  }));
}

function renderLearned(ov) {
  fill("#learned", "#learned-empty", ov.learned.map((l) => el("tr", { "data-deployment": l.deployment, "data-unit": l.unit },
    el("td", {}, l.deployment),
    el("td", {}, l.unit),
    el("td", { class: "num", "data-field": "learned", "data-value": l.per_minute }, count(l.per_minute)),
    el("td", { class: "num" }, l.configured_per_minute > 0 ? count(l.configured_per_minute) : "—"),
    el("td", { "data-field": "source" }, l.source || "—"))));
}

function setFigure(id, v, text) {
  const e = $(id);
  e.setAttribute("data-value", String(v));
  e.textContent = text;
}

// rate is the per-second change of f between the previous overview and this one.
function rate(ov, f) {
  if (!prev || !prev.metrics || !ov.metrics) return "";
  const dt = (Date.parse(ov.time) - Date.parse(prev.time)) / 1000;
  if (dt <= 0) return "";
  const r = (f(ov.metrics) - f(prev.metrics)) / dt;
  return r > 0 ? "+" + r.toFixed(r < 10 ? 1 : 0) + "/s" : "";
}

function renderMetrics(ov) {
  const m = ov.metrics;
  if (!m) {
    for (const id of ["#m-429-tollgate", "#m-429-upstream", "#m-retries", "#m-fallbacks", "#m-fallback-share", "#m-cache-hit", "#m-cache-miss"]) {
      setFigure(id, "", "—");
    }
    return;
  }
  setFigure("#m-429-tollgate", m.rate_limited.tollgate || 0, count(m.rate_limited.tollgate || 0));
  setFigure("#m-429-upstream", m.rate_limited.upstream || 0, count(m.rate_limited.upstream || 0));
  setFigure("#m-retries", m.retries, count(m.retries));
  setFigure("#m-fallbacks", m.fallbacks, count(m.fallbacks));
  setFigure("#m-fallback-share", m.fallback_share, (100 * m.fallback_share).toFixed(1) + "%");
  setFigure("#m-cache-hit", m.cache.hit || 0, count(m.cache.hit || 0));
  setFigure("#m-cache-miss", m.cache.miss || 0, count(m.cache.miss || 0));
  $("#r-429-tollgate").textContent = rate(ov, (x) => x.rate_limited.tollgate || 0);
  $("#r-429-upstream").textContent = rate(ov, (x) => x.rate_limited.upstream || 0);
  $("#r-retries").textContent = rate(ov, (x) => x.retries);
  $("#r-fallbacks").textContent = rate(ov, (x) => x.fallbacks);
  const lookups = (m.cache.hit || 0) + (m.cache.miss || 0);
  $("#r-cache").textContent = lookups > 0 ? (100 * (m.cache.hit || 0) / lookups).toFixed(1) + "% hits" : "";

  // The sparkline is the share of the last second's requests that fell back.
  if (prev && prev.metrics) {
    const dr = m.requests - prev.metrics.requests, df = m.fallbacks - prev.metrics.fallbacks;
    shareHistory.push(dr > 0 ? df / dr : 0);
    if (shareHistory.length > HISTORY) shareHistory.shift();
  }
  const svg = $("#spark-share");
  const top = Math.max(0.1, ...shareHistory);
  const points = shareHistory.map((v, i) => (i * 120 / (HISTORY - 1)).toFixed(1) + "," + (23 - 22 * v / top).toFixed(1)).join(" ");
  const line = document.createElementNS("http://www.w3.org/2000/svg", "polyline");
  line.setAttribute("points", points);
  svg.replaceChildren(line);
}

function render(ov) {
  const now = Date.parse(ov.time);
  renderMetrics(ov);
  renderTenants(ov, now);
  renderSessions(ov);
  renderQueue(ov);
  renderQuotas(ov, now);
  renderBreakers(ov, now);
  renderLearned(ov);
  const k = ov.keys;
  $("#keys-info").textContent = k.active + " of " + k.total + " keys valid · settings revision " + k.revision +
    (k.refresh_error ? " · settings store unreadable: " + k.refresh_error : "") + (ov.truncated ? " · quotas truncated" : "");
  prev = ov;
}

function setStatus(state, text) {
  const s = $("#status");
  s.setAttribute("data-state", state);
  s.textContent = text;
}

async function api(method, path, body) {
  const resp = await fetch(path, {
    method, cache: "no-store",
    headers: Object.assign({ "Authorization": "Bearer " + token }, body ? { "Content-Type": "application/json" } : {}),
    body: body ? JSON.stringify(body) : undefined,
  });
  if (resp.status === 401) {
    forget();
    throw new Error("the token was refused");
  }
  const data = await resp.json();
  if (!resp.ok) throw new Error(data.error ? data.error.message : resp.statusText);
  return data;
}

async function poll() {
  timer = null;
  if (!token) return;
  try {
    const ov = await api("GET", "/admin/v1/overview");
    render(ov);
    document.body.setAttribute("data-updated", ov.time);
    setStatus("live", "live · " + new Date(ov.time).toLocaleTimeString());
  } catch (err) {
    setStatus("error", String(err.message || err));
  }
  if (token) timer = setTimeout(poll, PERIOD_MS);
}

async function resetBreaker(deployment) {
  try {
    await api("POST", "/admin/v1/breakers/reset", { deployment });
  } catch (err) {
    setStatus("error", "reset " + deployment + ": " + (err.message || err));
  }
  if (timer) clearTimeout(timer);
  poll();
}

function show() {
  $("#login").hidden = !!token;
  $("#board").hidden = !token;
  $("#logout").hidden = !token;
  if (token && !timer) poll();
}

function forget() {
  token = "";
  sessionStorage.removeItem(TOKEN_KEY);
  if (timer) clearTimeout(timer);
  timer = null;
  prev = null;
  setStatus("idle", "token needed");
  show();
}

document.addEventListener("DOMContentLoaded", () => {
  // A token in the fragment (#token=...) is taken and removed from the address bar: the
  // fragment never reaches a server, but it stays in the history.
  const m = /(?:^|&)token=([^&]+)/.exec(location.hash.slice(1));
  if (m) {
    token = decodeURIComponent(m[1]);
    sessionStorage.setItem(TOKEN_KEY, token);
    history.replaceState(null, "", location.pathname + location.search);
  }
  $("#login").addEventListener("submit", (ev) => {
    ev.preventDefault();
    token = $("#token").value.trim();
    if (token) sessionStorage.setItem(TOKEN_KEY, token);
    $("#token").value = "";
    show();
  });
  $("#logout").addEventListener("click", forget);
  if (!token) setStatus("idle", "token needed");
  show();
});
