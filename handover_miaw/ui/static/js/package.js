// The package check: a built archive checked by the runtime exactly as `handover-miaw validate` checks it, each
// problem listed, and the forms a bot platform would render from the manifest inside the archive.

import { api, showProblem } from "./api.js";
import { renderManifestForms } from "./editor.js";

export class PackageCheck {
  constructor(root) { this.root = root; }

  $(selector) { return this.root.querySelector(selector); }

  async load() {
    this.$("#package-file").addEventListener("change", (event) => {
      const file = event.target.files[0];
      event.target.value = "";
      if (file) this.check(file);
    });
  }

  async check(file) {
    const status = this.$("#package-status");
    const list = this.$("#package-problems");
    const forms = this.$("#package-forms");
    list.replaceChildren();
    forms.hidden = true;
    status.textContent = `Checking ${file.name}…`;
    try {
      const result = await api("POST", "/v1/packages/check", undefined, {
        raw: await file.arrayBuffer(), contentType: "application/gzip",
      });
      list.replaceChildren(...result.problems.map((p) => {
        const item = document.createElement("li");
        item.textContent = `${p.pointer || "/"}: ${p.message}`;
        return item;
      }));
      const name = result.manifest ? ` (${result.manifest.name} ${result.manifest.version})` : "";
      status.textContent = result.valid
        ? `${file.name}${name}: valid package`
        : `${file.name}${name}: ${result.problems.length} problem(s)`;
      status.dataset.state = result.valid ? "valid" : "invalid";
      if (result.manifest) {
        renderManifestForms(
          result.manifest, this.$("#package-connector-form"), this.$("#package-node-form"), this.$("#package-node-title"),
        );
        forms.hidden = false;
      }
    } catch (error) {
      status.textContent = "";
      status.dataset.state = "error";
      showProblem(status, error);
      status.hidden = false;
    }
  }
}
