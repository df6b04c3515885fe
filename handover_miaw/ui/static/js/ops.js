// Operations: live handovers by state, one handover's timeline (lifecycle, MIAW calls, deliveries with their
// attempts), dead letters with their re-drive, and the headline metrics.

import { api, showProblem } from "./api.js";
import { Poller } from "./poller.js";

// The pause between the end of one refresh and the start of the next.
const POLL_MS = 2000;

function when(value) {
  if (value === null || value === undefined) return "";
  return typeof value === "number" ? new Date(value * 1000).toISOString() : String(value);
}

/** Set a node's text only when it changed: an unchanged refresh then leaves the page alone. */
function setText(node, text) {
  if (node.textContent !== text) node.textContent = text;
}

/** Make `parent`'s children exactly `nodes`, in order, touching only what is out of place: the rows are
 * refreshed every few seconds, and a node taken out of the page takes the keyboard's focus with it. */
function place(parent, nodes) {
  const focused = parent.contains(document.activeElement) ? document.activeElement : null;
  const wanted = new Set(nodes);
  for (const child of [...parent.children]) if (!wanted.has(child)) child.remove();
  nodes.forEach((node, index) => {
    if (parent.children[index] !== node) parent.insertBefore(node, parent.children[index] || null);
  });
  if (focused && focused.isConnected && document.activeElement !== focused) focused.focus();
}

/** Prometheus text → {name: [{labels, value}]} for the samples we show. */
export function parseMetrics(text) {
  const samples = {};
  for (const line of text.split("\n")) {
    const match = /^([a-zA-Z_:][\w:]*)(\{([^}]*)\})?\s+(\S+)$/.exec(line);
    if (!match) continue;
    const labels = Object.fromEntries([...(match[3] || "").matchAll(/(\w+)="([^"]*)"/g)].map((m) => [m[1], m[2]]));
    (samples[match[1]] ||= []).push({ labels, value: Number(match[4]) });
  }
  return samples;
}

/** One handover's deliveries, off its own index (`?handover=`), every page of them. */
async function deliveriesOf(id) {
  const found = [];
  for (let path = `/v1/deliveries?handover=${encodeURIComponent(id)}&limit=1000`; path;) {
    const page = await api("GET", path);
    found.push(...page.deliveries);
    path = page.next;
  }
  return found;
}

export class Operations {
  constructor(root) {
    this.root = root;
    this.selected = null;
    this.rows = new Map(); // handover id → its table row
    this.deadItems = new Map(); // delivery id → its line
    this.poller = new Poller(() => this.update(), () => this.seen, POLL_MS);
  }

  $(selector) { return this.root.querySelector(selector); }

  async load() {
    this.$("#ops-state").addEventListener("change", () => this.refresh());
    this.$("#ops-refresh").addEventListener("click", () => this.refresh());
    await this.poller.start();
  }

  /** Whether anyone can see the view: the tab is not hidden and the view is shown. */
  get seen() {
    return document.visibilityState !== "hidden" && !this.root.hidden;
  }

  /** Show the server's state now (or right after the refresh in flight), then while the view is seen. */
  refresh() { return this.poller.refresh(); }

  /** One look at the runtime: handovers, dead letters, metrics and the selected handover's timeline. */
  async update() {
    const problem = this.$("#ops-problem");
    try {
      await Promise.all([this.handovers(), this.dead(), this.metrics()]);
      if (this.selected) await this.timeline(this.selected);
      showProblem(problem, null);
    } catch (error) {
      showProblem(problem, error);
    }
  }

  async handovers() {
    const state = this.$("#ops-state").value;
    const { handovers } = await api("GET", `/v1/handovers${state ? `?state=${encodeURIComponent(state)}` : ""}`);
    const rows = new Map();
    for (const h of handovers) {
      const row = this.rows.get(h.id) || this.handoverRow(h.id);
      const cells = row.children;
      setText(cells[1], h.state ?? "");
      setText(cells[2], h.connector ?? "");
      setText(cells[3], h.sessionId ?? "");
      setText(cells[4], h.agent ? h.agent.name ?? "" : "");
      setText(cells[5], when(h.updatedAt));
      rows.set(h.id, row);
    }
    this.rows = rows;
    place(this.$("#ops-handovers tbody"), [...rows.values()]);
  }

  /** A handover's row, kept from one refresh to the next (see place). */
  handoverRow(id) {
    const row = document.createElement("tr");
    const first = document.createElement("td");
    const open = document.createElement("button");
    open.type = "button";
    open.textContent = id;
    open.setAttribute("aria-label", `Timeline of ${id}`);
    open.addEventListener("click", () => this.open(id));
    first.append(open);
    row.append(first);
    for (let i = 0; i < 5; i += 1) row.append(document.createElement("td"));
    return row;
  }

  async open(id) {
    this.selected = id;
    const problem = this.$("#ops-problem");
    try {
      await this.timeline(id);
      showProblem(problem, null);
    } catch (error) {
      showProblem(problem, error);
    }
  }

  async timeline(id) {
    const [handover, deliveries, { calls }] = await Promise.all([
      api("GET", `/v1/handovers/${encodeURIComponent(id)}`),
      deliveriesOf(id),
      api("GET", `/v1/handovers/${encodeURIComponent(id)}/calls`),
    ]);
    const events = [[handover.createdAt, `created (${handover.connector}, session ${handover.sessionId})`]];
    for (const c of calls) events.push([c.at, `MIAW ${c.endpoint}: ${c.outcome} in ${c.durationMs.toFixed(1)} ms`]);
    for (const d of deliveries) {
      const error = d.lastError ? `, last error: ${d.lastError}` : "";
      events.push([d.createdAt, `delivery #${d.seq} ${d.type}: ${d.state} after ${d.attempts} attempt(s)${error}`]);
    }
    if (handover.endedAt) events.push([handover.endedAt, `ended: ${handover.endStatus} (${handover.endReason})`]);
    else events.push([handover.updatedAt, `now ${handover.state}${handover.agent ? ` with ${handover.agent.name}` : ""}`]);
    events.sort((a, b) => String(when(a[0])).localeCompare(String(when(b[0]))));
    this.$("#ops-timeline-title").textContent = `Timeline of ${id}`;
    this.$("#ops-timeline").replaceChildren(...events.map(([at, text]) => {
      const item = document.createElement("li");
      item.textContent = `${when(at)} ${text}`;
      return item;
    }));
  }

  async dead() {
    const { deliveries } = await api("GET", "/v1/deliveries?state=dead");
    const items = new Map();
    for (const d of deliveries) {
      const item = this.deadItems.get(d.id) || this.deadItem(d.id);
      const text = `${d.type} of ${d.handoverId} (#${d.seq}, ${d.attempts} attempt(s)): ${d.lastError || ""} `;
      setText(item.firstChild, text);
      items.set(d.id, item);
    }
    this.deadItems = items;
    place(this.$("#ops-dead"), [...items.values()]);
  }

  /** A dead letter's line, kept from one refresh to the next (see place). */
  deadItem(id) {
    const item = document.createElement("li");
    const button = document.createElement("button");
    button.type = "button";
    button.textContent = "Re-drive";
    button.setAttribute("aria-label", `Re-drive ${id}`);
    button.addEventListener("click", async () => {
      try {
        await api("POST", `/v1/deliveries/${encodeURIComponent(id)}/retry`, {});
        await this.refresh();
      } catch (error) {
        showProblem(this.$("#ops-problem"), error);
      }
    });
    item.append(document.createTextNode(""), button);
    return item;
  }

  async metrics() {
    const response = await fetch("/metrics");
    const samples = parseMetrics(await response.text());
    const sum = (name, label, value) => (samples[name] || [])
      .filter((s) => label === undefined || s.labels[label] === value)
      .reduce((total, s) => total + s.value, 0);
    const live = (samples.handover_miaw_handovers || []).map((s) => `${s.labels.state} ${s.value}`).join(", ");
    const headline = [
      ["Live handovers", live || "none"],
      ["MIAW calls", String(sum("handover_miaw_miaw_calls_total"))],
      // The counter counts push attempts: deliveries read over SSE are never in it, so it says so.
      ["Webhook deliveries delivered", String(sum("handover_miaw_deliveries_total", "outcome", "delivered"))],
      ["Deliveries dead", String(sum("handover_miaw_deliveries_total", "outcome", "dead"))],
      ["Stream reconnects", String(sum("handover_miaw_stream_reconnects_total"))],
    ];
    this.$("#ops-metrics").replaceChildren(...headline.flatMap(([term, value]) => {
      const dt = document.createElement("dt");
      dt.textContent = term;
      const dd = document.createElement("dd");
      dd.textContent = value;
      return [dt, dd];
    }));
  }
}
