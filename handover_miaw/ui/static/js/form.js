// Forms rendered from the manifest's field declarations, the way a flow editor renders an extension. Nothing
// here knows any field: types, labels, descriptions, placeholders, defaults, sections, form order, conditions and
// required marks all come from the manifest.

let counter = 0;

function decodeToken(token) { return token.replaceAll("~1", "/").replaceAll("~0", "~"); }

/** The field key a JSON Pointer points into ("" for the whole document). */
export function pointerKey(pointer) {
  if (!pointer) return "";
  return decodeToken(pointer.split("/")[1] ?? "");
}

function sameValue(a, b) { return JSON.stringify(a) === JSON.stringify(b); }

/** Whether a manifest condition ({key, value, negate} or nested and/or) holds for values with defaults. */
export function conditionHolds(condition, values) {
  if (!condition) return true;
  if (condition.and) return condition.and.every((c) => conditionHolds(c, values));
  if (condition.or) return condition.or.some((c) => conditionHolds(c, values));
  // A text field left empty is absent from the values, yet a condition on "" means "left empty"
  // (manifest/fields.py evaluates conditions the same way).
  const absent = condition.value === "" ? "" : undefined;
  const matches = sameValue(condition.key in values ? values[condition.key] : absent, condition.value);
  return condition.negate ? !matches : matches;
}

/** A manifest field declaration in one shape: connector fields keep required/default at the top, node fields
 * keep `required` in params and the default in `defaultValue`. */
export function normaliseField(raw, kind) {
  const params = raw.params || {};
  const hasDefault = kind === "node" ? "defaultValue" in raw : "default" in raw;
  return {
    key: raw.key, type: raw.type, label: raw.label, description: raw.description || "", params,
    condition: raw.condition || null, hasDefault,
    default: kind === "node" ? raw.defaultValue : raw.default,
    required: kind === "node" ? Boolean(params.required) : Boolean(raw.required),
  };
}

function element(tag, attributes = {}, text = null) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) {
    if (value !== null && value !== undefined && value !== false) node.setAttribute(name, value === true ? "" : value);
  }
  if (text !== null) node.textContent = text;
  return node;
}

function buildControl(field, id) {
  const { type, params } = field;
  if (type === "toggle") return element("input", { type: "checkbox", id });
  if (type === "select") {
    const select = element("select", { id });
    if (!field.hasDefault && !field.required) select.append(element("option", { value: "" }, "—"));
    (params.options || []).forEach((option, index) => {
      select.append(element("option", { value: String(index) }, option.label));
    });
    return select;
  }
  if (type === "keyValue" || type === "json") {
    return element("textarea", { id, rows: 3, placeholder: params.placeholder, spellcheck: "false" });
  }
  const inputType = { url: "url", secret: "password", number: "number" }[type] || "text";
  return element("input", {
    type: inputType, id, placeholder: params.placeholder, autocomplete: type === "secret" ? "off" : null,
    min: params.min, max: params.max, step: type === "number" ? "any" : null,
  });
}

class FieldView {
  constructor(field, prefix) {
    this.field = field;
    const id = `${prefix}-${field.key}-${++counter}`;
    this.wrapper = element("div", { class: "field", "data-key": field.key });
    this.control = buildControl(field, id);
    const label = element("label", { for: id }, field.label);
    // The mark sits beside the label, not in it, so the control's name is the manifest label exactly.
    const mark = field.required ? element("span", { class: "required-mark", title: "required" }, "*") : null;
    if (field.required) this.control.setAttribute("aria-required", "true");
    const describedBy = [];
    if (field.description) {
      const description = element("p", { class: "description", id: `${id}-description` }, field.description);
      describedBy.push(description.id);
      this.description = description;
    }
    this.problem = element("p", { class: "problem", id: `${id}-problem`, role: "alert", hidden: true });
    describedBy.push(this.problem.id);
    this.control.setAttribute("aria-describedby", describedBy.join(" "));
    const heading = element("div", { class: "field-label" });
    heading.append(label);
    if (mark) heading.append(mark);
    if (field.type === "toggle") this.wrapper.append(this.control, heading);
    else this.wrapper.append(heading, this.control);
    if (this.description) this.wrapper.append(this.description);
    this.wrapper.append(this.problem);
    this.localProblem = null;
  }

  set(value) {
    const { type, params } = this.field;
    if (value === undefined) value = this.field.hasDefault ? this.field.default : undefined;
    if (type === "toggle") this.control.checked = Boolean(value);
    else if (type === "select") {
      const index = (params.options || []).findIndex((o) => sameValue(o.value, value));
      this.control.value = index >= 0 ? String(index) : "";
    } else if (type === "keyValue" || type === "json") {
      const empty = value === undefined || (type === "keyValue" && sameValue(value, {}));
      this.control.value = empty ? "" : JSON.stringify(value, null, 1);
    } else this.control.value = value === undefined || value === null ? "" : String(value);
  }

  /** [present, value]; a JSON field that does not parse sets a problem of the page's own. */
  get() {
    const { type, params } = this.field;
    this.localProblem = null;
    if (type === "toggle") return [true, this.control.checked];
    if (type === "select") {
      if (this.control.value === "") return [false, undefined];
      return [true, params.options[Number(this.control.value)].value];
    }
    // The browser gives "" for a number it cannot parse ("1e", "-"): without this it would pass as empty.
    if (this.control.validity.badInput) {
      this.localProblem = "not a number";
      return [false, undefined];
    }
    const text = this.control.value;
    if (text.trim() === "") {
      if (type === "keyValue" && this.field.hasDefault) return [true, this.field.default];
      return [false, undefined];
    }
    if (type === "keyValue" || type === "json") {
      try { return [true, JSON.parse(text)]; } catch (error) {
        this.localProblem = `not valid JSON: ${error.message}`;
        return [false, undefined];
      }
    }
    if (type === "number") {
      const number = Number(text);
      return [true, Number.isFinite(number) ? number : text];
    }
    return [true, text];
  }

  showProblems(messages) {
    const all = this.localProblem ? [this.localProblem, ...messages] : messages;
    this.problem.hidden = all.length === 0;
    this.problem.textContent = all.join("; ");
    if (all.length) this.control.setAttribute("aria-invalid", "true");
    else this.control.removeAttribute("aria-invalid");
  }
}

/** Render `fields` (raw manifest declarations) into `form`; `layout` is the node's {sections, form} or null. */
export function renderForm(form, rawFields, kind, layout = null) {
  form.replaceChildren();
  const fields = rawFields.map((raw) => normaliseField(raw, kind));
  const views = new Map(fields.map((f) => [f.key, new FieldView(f, `${kind}`)]));
  const general = element("p", { class: "problem", role: "alert", hidden: true, "data-general": "" });
  if (layout && layout.form) {
    const sections = new Map((layout.sections || []).map((s) => [s.key, s]));
    for (const item of layout.form) {
      if (item.type === "section") {
        const section = sections.get(item.key);
        const fieldset = element("fieldset", { "data-section": section.key });
        fieldset.append(element("legend", {}, section.label));
        for (const key of section.fields) fieldset.append(views.get(key).wrapper);
        form.append(fieldset);
      } else form.append(views.get(item.key).wrapper);
    }
  } else for (const view of views.values()) form.append(view.wrapper);
  form.append(general);
  for (const view of views.values()) view.set(undefined);

  const controller = {
    fields,
    /** The values of visible fields (hidden ones are left out, as the runtime fills defaults). */
    values() {
      const all = {};
      for (const [key, view] of views) {
        const [present, value] = view.get();
        if (present) all[key] = value;
      }
      const withDefaults = { ...all };
      for (const f of fields) if (!(f.key in withDefaults) && f.hasDefault) withDefaults[f.key] = f.default;
      const out = {};
      for (const [key, view] of views) {
        const visible = conditionHolds(view.field.condition, withDefaults);
        view.wrapper.hidden = !visible;
        if (visible && key in all) out[key] = all[key];
      }
      return out;
    },
    localProblems() {
      return [...views.values()].filter((v) => v.localProblem).map((v) => v.field.key);
    },
    setValues(values) {
      for (const [key, view] of views) view.set(values[key]);
      controller.values();
    },
    /** Show each problem at the field its JSON Pointer points into; the rest above the form's end. */
    showProblems(problems) {
      const byKey = new Map();
      const rest = [];
      for (const problem of problems) {
        const key = pointerKey(problem.pointer);
        if (views.has(key)) {
          if (!byKey.has(key)) byKey.set(key, []);
          byKey.get(key).push(problem.message);
        } else rest.push(`${problem.pointer || "/"}: ${problem.message}`);
      }
      for (const [key, view] of views) view.showProblems(byKey.get(key) || []);
      general.hidden = rest.length === 0;
      general.textContent = rest.join("; ");
    },
  };
  // A field a condition reveals is shown on the keystroke that reveals it, before the next Tab, not when the
  // debounced check runs. Handler properties, not listeners: the package page renders into the same form again.
  form.oninput = form.onchange = () => controller.values();
  controller.values();
  return controller;
}
