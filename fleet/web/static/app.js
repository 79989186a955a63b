// The fleet dashboard's pages, filled from the JSON API and kept live with server-sent
// events. Everything a kiosk sent is put on the page as text (textContent), never as HTML.
"use strict";
(() => {
  const main = document.getElementById("app");
  const page = main.dataset.page;
  const csrf = document.querySelector("meta[name=csrf]").content;
  const role = document.querySelector("meta[name=role]").content;
  let refreshes = 0;

  function el(tag, props = {}, ...children) {
    const node = document.createElement(tag);
    for (const [key, value] of Object.entries(props)) {
      if (value === undefined || value === null || value === false) continue;
      if (key === "text") node.textContent = value;
      else if (key === "class") node.className = value;
      else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
      else node.setAttribute(key, value === true ? "" : value);
    }
    for (const child of children.flat(Infinity)) {
      if (child !== null && child !== undefined) node.append(child);
    }
    return node;
  }

  async function getJSON(url) {
    const answer = await fetch(url, { headers: { Accept: "application/json" } });
    if (answer.status === 401) {
      location.href = "/login?next=" + encodeURIComponent(location.pathname + location.search);
      throw new Error("signed out");
    }
    if (!answer.ok) throw new Error(`${url}: HTTP ${answer.status}`);
    return answer.json();
  }

  function when(iso) {
    if (!iso) return "–";
    const t = new Date(iso);
    const seconds = Math.round((Date.now() - t.getTime()) / 1000);
    if (seconds < 60 && seconds > -5) return `${Math.max(seconds, 0)} s ago`;
    if (seconds < 3600 && seconds > 0) return `${Math.round(seconds / 60)} min ago`;
    return t.toLocaleString();
  }

  function timeCell(iso) {
    return el("time", { datetime: iso || "", title: iso ? new Date(iso).toLocaleString() : "", text: when(iso) });
  }

  function badge(status) {
    return el("span", { class: `badge status-${status}`, text: status });
  }

  function cell(label, ...content) {
    return el("td", { "data-label": label }, ...content);
  }

  function yesNo(value, yes, no) {
    if (value === true) return yes;
    if (value === false) return no;
    return "–";
  }

  // -- the fleet at a glance ----------------------------------------------------------

  async function showFleet() {
    const query = new URLSearchParams(location.search);
    const data = await getJSON("/api/fleet?" + query.toString());
    const tiles = el("div", { class: "tiles" },
      ["online", "maintenance", "offline", "alerting"].map((name) =>
        el("a", { class: `tile status-${name}`, href: `/?status=${name}`, "data-status": name },
          el("span", { class: "count", text: String(data.counts[name]) }),
          el("span", { class: "label", text: name }))));
    const site = el("select", { name: "site", "aria-label": "Site", onchange: filter },
      el("option", { value: "", text: "All sites" }),
      data.sites.map((s) => el("option", { value: s, text: s, selected: s === query.get("site") })));
    const status = el("select", { name: "status", "aria-label": "Status", onchange: filter },
      el("option", { value: "", text: "Any status" }),
      ["online", "maintenance", "offline", "alerting"].map((s) =>
        el("option", { value: s, text: s, selected: s === query.get("status") })));
    function filter() {
      const next = new URLSearchParams();
      if (site.value) next.set("site", site.value);
      if (status.value) next.set("status", status.value);
      history.replaceState(null, "", next.toString() ? `/?${next}` : "/");
      refresh();
    }
    const rows = data.kiosks.map((k) => el("tr", { "data-kiosk": k.kiosk, class: `row-${k.status}` },
      cell("Kiosk", el("a", { href: `/kiosks/${encodeURIComponent(k.kiosk)}`, text: k.kiosk })),
      cell("Site", k.site || "–"),
      cell("Location", k.location || "–"),
      cell("Status", badge(k.status), k.out_of_service ? el("small", { class: "oos", text: " out of service" }) : null),
      cell("Last seen", timeCell(k.last_seen)),
      cell("Version", k.software || "–"),
      cell("Temp.", k.temperature_c == null ? "–" : `${k.temperature_c.toFixed(1)} °C`),
      cell("Reader", yesNo(k.reader_present, "present", "missing")),
      cell("Unlocks today", el("span", { class: "ok", title: "succeeded", text: `✓ ${k.unlocks_today.succeeded}` }),
        " ", el("span", { class: "bad", title: "failed", text: `✗ ${k.unlocks_today.failed}` })),
      cell("Alerts", k.open_alerts ? el("a", { class: "alert-count", href: `/alerts?kiosk=${encodeURIComponent(k.kiosk)}`, text: String(k.open_alerts) }) : "0")));
    const heads = ["Kiosk", "Site", "Location", "Status", "Last seen", "Version", "Temp.", "Reader", "Unlocks today", "Alerts"];
    const more = data.total > data.kiosks.length ? el("p", { text: `Showing ${data.kiosks.length} of ${data.total}; filter by site or status to see the rest.` }) : null;
    return [el("h1", { text: "Fleet" }), tiles,
      el("form", { class: "filters", onsubmit: (e) => e.preventDefault() }, site, status),
      el("table", { class: "kiosks" }, el("thead", {}, el("tr", {}, heads.map((h) => el("th", { text: h })))),
        el("tbody", {}, rows.length ? rows : el("tr", {}, el("td", { colspan: "10", text: "No kiosks match." })))),
      more];
  }

  // -- one kiosk ----------------------------------------------------------------------

  const charts = {};
  let pendingCharts = [];

  // A chart is drawn once its box is on the page, at the box's own width.
  function chart(name, title, unit, series) {
    const values = series[name];
    const box = el("figure", { class: "chart", "data-chart": name }, el("figcaption", { text: title }));
    if (typeof uPlot === "undefined" || !values || !values.some((v) => v !== null)) {
      box.append(el("p", { class: "empty", text: "no samples (the kiosk does not report it)" }));
      return box;
    }
    pendingCharts.push(() => {
      const options = {
        width: Math.max(200, box.clientWidth - 18), height: 150, legend: { show: false },
        series: [{}, { label: title, stroke: "#1f6feb", width: 2, value: (u, v) => v == null ? "–" : `${v} ${unit}` }],
        axes: [{}, { size: 46 }],
      };
      charts[name] = new uPlot(options, [series.at, values], box);
    });
    return box;
  }

  async function command(kiosk, what, body, output) {
    output.textContent = "Sending…";
    const answer = await fetch(`/api/kiosks/${encodeURIComponent(kiosk)}/${what}`, {
      method: "POST",
      headers: { "Content-Type": "application/json", "X-CSRF-Token": csrf },
      body: JSON.stringify(body),
    });
    const data = await answer.json().catch(() => ({}));
    output.textContent = answer.ok ? `Sent ${data.command}; waiting for the kiosk to confirm.` : `Not sent: ${data.error || answer.status}`;
  }

  async function showKiosk() {
    const id = main.dataset.kiosk;
    const k = await getJSON(`/api/kiosks/${encodeURIComponent(id)}`);
    const h = k.health || {};
    const c = h.counters || {};
    const facts = [
      ["Site", k.site], ["Location", k.location], ["Status", k.status_reason ? `${k.status} (${k.status_reason})` : k.status],
      ["Out of service", k.out_of_service || "no"], ["Last seen", when(k.last_seen)], ["Software", k.software],
      ["Incarnation", k.incarnation], ["Health every", k.health_interval ? `${k.health_interval} s` : null],
      ["CPU temperature", h.cpu_temperature_c == null ? null : `${h.cpu_temperature_c} °C`], ["Load", h.load1],
      ["Memory free", h.memory_available_mb == null ? null : `${Math.round(h.memory_available_mb)} MB`],
      ["Disk free", h.disk_free_mb == null ? null : `${Math.round(h.disk_free_mb)} MB`],
      ["Reader", yesNo(h.reader_present, "present", "missing")], ["Card service", yesNo(h.card_service_up, "reachable", "unreachable")],
      ["Clock", yesNo(h.clock_synchronised, "synchronised", "not synchronised")],
      ["Certificate", h.certificate_days_left == null ? null : `${h.certificate_days_left} days left`],
      ["Outbox", h.outbox_depth], ["Unlocks today", `${k.unlocks_today.succeeded} succeeded, ${k.unlocks_today.failed} failed`],
      ["Since start", c.sessions == null ? null : `${c.sessions} sessions, ${c.unlocks_succeeded} unlocked, ${c.unlocks_failed} failed, ${c.events_lost} events lost`],
    ];
    const output = el("p", { class: "command-result", role: "status" });
    const operator = role === "operator";
    const buttons = el("div", { class: "commands" },
      el("button", { type: "button", id: "maintenance", disabled: !operator,
        text: k.maintenance ? "End maintenance" : "Maintenance mode",
        onclick: () => command(id, "maintenance", { on: !k.maintenance }, output) }),
      el("button", { type: "button", id: "rebirth", disabled: !operator, text: "Ask for a rebirth",
        onclick: () => command(id, "rebirth", {}, output) }),
      operator ? null : el("small", { text: " Commands need the operator role." }));
    const events = k.events.map((e) => el("tr", {},
      cell("Time", timeCell(e.at)), cell("Event", e.kind),
      cell("Outcome", [e.outcome, e.reason, e.mechanism].filter(Boolean).join(" · ") || "–"),
      cell("Detail", e.detail || "–"), cell("Card", e.card ? e.card.slice(0, 12) + "…" : "–")));
    const alerts = k.alerts.map((a) => el("li", { class: a.open ? "open" : "cleared" },
      el("strong", { text: a.kind }), ` ${a.detail || ""} — raised ${when(a.raised_at)}`,
      a.open ? " (open)" : `, cleared ${when(a.cleared_at)}`));
    const audit = k.audit.map((a) => el("li", {},
      `${when(a.at)}: ${a.user || "system"} ${a.action} ${a.detail || ""}`,
      a.command_id ? (a.done_at ? el("span", { class: "ok", text: " — done by the kiosk" }) : el("span", { class: "pending", text: " — not confirmed yet" })) : null));
    for (const name of Object.keys(charts)) { charts[name].destroy(); delete charts[name]; }
    return [
      el("h1", {}, `Kiosk ${k.kiosk} `, badge(k.status)),
      buttons, output,
      el("dl", { class: "facts" }, facts.filter(([, v]) => v !== null && v !== undefined).map(([n, v]) => [el("dt", { text: n }), el("dd", { text: String(v) })])),
      el("h2", { text: "Health, last 24 hours" }),
      el("div", { class: "charts" },
        chart("cpu_temperature_c", "CPU temperature", "°C", k.series),
        chart("load1", "Load", "", k.series),
        chart("card_service_latency_ms", "Card service latency", "ms", k.series),
        chart("outbox_depth", "Outbox", "messages", k.series)),
      el("h2", { text: "Alerts" }), alerts.length ? el("ul", { class: "alerts" }, alerts) : el("p", { text: "None." }),
      el("h2", { text: "Recent events" }),
      el("table", { class: "events" }, el("thead", {}, el("tr", {}, ["Time", "Event", "Outcome", "Detail", "Card"].map((t) => el("th", { text: t })))), el("tbody", {}, events)),
      el("h2", { text: "Commands and audit" }), audit.length ? el("ul", { class: "audit" }, audit) : el("p", { text: "None." }),
    ];
  }

  // -- alerts -------------------------------------------------------------------------

  async function showAlerts() {
    const query = new URLSearchParams(location.search);
    const all = await getJSON("/api/alerts?" + query.toString());
    const rows = all.map((a) => el("tr", { class: a.open ? "open" : "cleared", "data-alert": String(a.id) },
      cell("State", el("span", { class: `badge ${a.open ? "status-offline" : "status-online"}`, text: a.open ? "open" : "cleared" })),
      cell("Alert", a.kind),
      cell("Kiosk", el("a", { href: `/kiosks/${encodeURIComponent(a.kiosk)}`, text: a.kiosk })),
      cell("Where", [a.site, a.location].filter(Boolean).join(", ") || "–"),
      cell("Detail", a.detail || "–"),
      cell("Raised", timeCell(a.raised_at)),
      cell("Cleared", timeCell(a.cleared_at))));
    const open = all.filter((a) => a.open).length;
    return [el("h1", { text: `Alerts (${open} open)` }),
      el("table", { class: "alerts" }, el("thead", {}, el("tr", {}, ["State", "Alert", "Kiosk", "Where", "Detail", "Raised", "Cleared"].map((t) => el("th", { text: t })))),
        el("tbody", {}, rows.length ? rows : el("tr", {}, el("td", { colspan: "7", text: "No alerts." }))))];
  }

  // -- keeping it live ----------------------------------------------------------------

  const views = { fleet: showFleet, kiosk: showKiosk, alerts: showAlerts };
  const liveLine = el("p", { class: "live", id: "live", role: "status" });
  let busy = false;
  let again = false;

  async function refresh() {
    if (busy) { again = true; return; }
    busy = true;
    try {
      const parts = await views[page]();
      const focused = document.activeElement && document.activeElement.name;
      main.replaceChildren(liveLine, ...parts.flat(Infinity).filter(Boolean));
      const drawing = pendingCharts;
      pendingCharts = [];
      for (const draw of drawing) draw();
      if (focused) { const same = main.querySelector(`[name=${focused}]`); if (same) same.focus(); }
      refreshes += 1;
      document.body.dataset.refreshes = String(refreshes);
      liveLine.textContent = `Live · updated ${new Date().toLocaleTimeString()}`;
    } catch (error) {
      liveLine.textContent = `Not updated: ${error.message}`;
    } finally {
      busy = false;
      if (again) { again = false; setTimeout(refresh, 500); }
    }
  }

  const stream = new EventSource("/api/stream");
  stream.addEventListener("change", () => refresh());
  stream.addEventListener("signed-out", () => { location.href = "/login"; });
  stream.onerror = () => { liveLine.textContent = "Reconnecting…"; };
  refresh();
})();
