// The node editor: the connector form and the Handover to Agent node's form, rendered from /v1/manifest,
// validated live by the runtime (the same engine as `handover-miaw validate`), with the preview of what
// Salesforce will receive computed by the runtime's own mapping.

import { api, showProblem } from "./api.js";
import { renderForm } from "./form.js";

const HANDOVER_NODE = "handoverToAgent";
const SETTINGS_KEY = "hm.nodeSettings";

function debounce(fn, ms) {
  let timer = null;
  return () => { clearTimeout(timer); timer = setTimeout(fn, ms); };
}

/** Parse the sample transcript textarea: one turn per line, `source: text`. */
export function parseTranscript(text) {
  const turns = [];
  for (const line of text.split("\n")) {
    const match = /^\s*(user|bot|agent)\s*:\s*(.*)$/i.exec(line);
    if (match && match[2].trim()) turns.push({ source: match[1].toLowerCase(), text: match[2] });
    else if (line.trim() && turns.length) turns[turns.length - 1].text += `\n${line}`;
  }
  return turns;
}

/** Render both forms from a manifest document; returns the two controllers. */
export function renderManifestForms(manifest, connectorForm, nodeForm, nodeTitle) {
  const node = manifest.nodes.find((n) => n.type === HANDOVER_NODE) || manifest.nodes[0];
  nodeTitle.textContent = node.label;
  return {
    connector: renderForm(connectorForm, manifest.connector.fields, "connector"),
    node: renderForm(nodeForm, node.fields, "node", node),
  };
}

export class Editor {
  constructor(root, app) {
    this.root = root;
    this.app = app;
    this.sequence = 0;
    this.forms = null;
  }

  $(selector) { return this.root.querySelector(selector); }

  async load() {
    const { manifest } = await api("GET", "/v1/manifest");
    document.getElementById("title").textContent = manifest.label;
    this.forms = renderManifestForms(manifest, this.$("#connector-form"), this.$("#node-form"), this.$("#node-title"));
    const connector = this.app.config.connector;
    if (connector) {
      // The demo's connector: the form shows the configuration the runtime really uses.
      this.forms.connector.setValues((await api("GET", `/v1/connectors/${encodeURIComponent(connector)}`)).config);
    }
    const saved = sessionStorage.getItem(SETTINGS_KEY);
    if (saved) this.forms.node.setValues(JSON.parse(saved));
    const later = debounce(() => this.check(), 150);
    for (const form of [this.$("#connector-form"), this.$("#node-form")]) {
      form.addEventListener("input", later);
      form.addEventListener("change", later);
    }
    this.$("#sample-transcript").addEventListener("input", later);
    this.$("#export-settings").addEventListener("click", () => this.export());
    this.$("#import-settings").addEventListener("change", (event) => {
      const file = event.target.files[0];
      event.target.value = ""; // the same file can be imported again after an edit
      this.import(file);
    });
    await this.check();
  }

  /** The node settings as they stand (visible fields only). */
  settings() { return this.forms.node.values(); }

  /** Validate both forms; `imported` is a node settings document to check as it was written instead. */
  async check(imported = null) {
    const sequence = ++this.sequence;
    const connector = this.forms.connector.values();
    const settings = this.forms.node.values();
    sessionStorage.setItem(SETTINGS_KEY, JSON.stringify(settings));
    let connectorResult, nodeResult;
    try {
      [connectorResult, nodeResult] = await Promise.all([
        api("POST", "/v1/validate", { kind: "connector", document: connector }),
        api("POST", "/v1/validate", { kind: "node", document: imported ?? settings }),
      ]);
    } catch (error) {
      if (sequence !== this.sequence) return;
      this.unchecked("#connector-validity", "Connector configuration", error);
      this.unchecked("#validity", "Node settings", error);
      return;
    }
    if (sequence !== this.sequence) return; // a newer check is on its way
    this.forms.connector.showProblems(connectorResult.problems);
    this.forms.node.showProblems(nodeResult.problems);
    this.status("#connector-validity", "Connector configuration", connectorResult, this.forms.connector);
    this.status("#validity", "Node settings", nodeResult, this.forms.node);
    if (nodeResult.valid && !this.forms.node.localProblems().length) await this.preview(settings, sequence);
  }

  status(selector, what, result, form) {
    const count = result.problems.length + form.localProblems().length;
    const element = this.$(selector);
    element.textContent = count ? `${what}: ${count} problem(s)` : `${what}: valid`;
    element.dataset.state = count ? "invalid" : "valid";
  }

  /** The runtime did not answer the check (body too large, key refused, runtime down): the last verdict is void. */
  unchecked(selector, what, error) {
    const element = this.$(selector);
    element.textContent = `${what}: not checked (${error.message || error})`;
    element.dataset.state = "unchecked";
  }

  async preview(settings, sequence) {
    const problem = this.$("#preview-problem");
    try {
      const transcript = parseTranscript(this.$("#sample-transcript").value);
      const result = await api("POST", "/v1/preview", { settings, transcript });
      if (sequence !== this.sequence) return;
      showProblem(problem, null);
      this.$("#preview-conversation").textContent = JSON.stringify(result.conversation, null, 2);
      const list = this.$("#preview-messages");
      list.replaceChildren(...result.transcriptMessages.map((text) => {
        const item = document.createElement("li");
        const pre = document.createElement("pre");
        pre.textContent = text;
        const size = document.createElement("span");
        size.className = "hint";
        // Code points, as the runtime counts them when it splits at 3000 (text.length counts UTF-16 units).
        size.textContent = `${[...text].length} characters`;
        item.append(size, pre);
        return item;
      }));
      if (!result.transcriptMessages.length) {
        const item = document.createElement("li");
        item.textContent = "No transcript message (Send Transcript is off or the transcript is empty).";
        list.append(item);
      }
    } catch (error) {
      showProblem(problem, error);
    }
  }

  export() {
    const blob = new Blob([JSON.stringify(this.settings(), null, 2) + "\n"], { type: "application/json" });
    const link = document.createElement("a");
    link.href = URL.createObjectURL(blob);
    link.download = "node-settings.json";
    document.body.append(link);
    link.click();
    link.remove();
    setTimeout(() => URL.revokeObjectURL(link.href), 1000);
  }

  async import(file) {
    const problem = this.$("#import-problem");
    if (!file) return;
    try {
      const values = JSON.parse(await file.text());
      if (typeof values !== "object" || values === null || Array.isArray(values)) {
        throw new Error("node settings must be a JSON object");
      }
      this.forms.node.setValues(values);
      showProblem(problem, null);
      // The form can hold only values of each field's type, so the file itself is checked: a wrong type or an
      // unknown key is reported as the CLI reports it, not hidden by what the form made of it.
      await this.check(values);
    } catch (error) {
      showProblem(problem, { message: `${file.name}: ${error.message}` });
    }
  }
}
