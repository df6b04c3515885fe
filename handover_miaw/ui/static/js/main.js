// The page: one view per hash (#editor, #chat, #desk, #ops, #package); each view's module is loaded on first visit.

import { api, apiKey, setApiKey, showProblem } from "./api.js";

const VIEWS = {
  editor: () => import("./editor.js").then((m) => new m.Editor(document.getElementById("view-editor"), app)),
  chat: () => import("./chat.js").then((m) => new m.Chat(document.getElementById("view-chat"), app)),
  desk: () => import("./desk.js").then((m) => new m.Desk(document.getElementById("view-desk"), app)),
  ops: () => import("./ops.js").then((m) => new m.Operations(document.getElementById("view-ops"))),
  package: () => import("./package.js").then((m) => new m.PackageCheck(document.getElementById("view-package"))),
};

const app = { config: null, views: new Map() };

/** The view, loaded once; the chat needs the editor's settings, so the editor is always there first. */
async function view(name) {
  if (!app.views.has(name)) {
    const loading = VIEWS[name]().then(async (instance) => { await instance.load(); return instance; });
    app.views.set(name, loading);
    // A failed load is not kept: the next use tries again instead of failing until a reload (the chat asks
    // for the editor each time the user wants a person, without ever showing it).
    loading.catch(() => { if (app.views.get(name) === loading) app.views.delete(name); });
  }
  return app.views.get(name);
}
app.view = view;

async function show() {
  const name = location.hash.slice(1) in VIEWS ? location.hash.slice(1) : "editor";
  for (const section of document.querySelectorAll("main > section")) section.hidden = section.dataset.view !== name;
  for (const link of document.querySelectorAll("nav a")) {
    if (link.getAttribute("href") === `#${name}`) link.setAttribute("aria-current", "page");
    else link.removeAttribute("aria-current");
  }
  const problem = document.getElementById("load-problem");
  try {
    const instance = await view(name);
    showProblem(problem, null);
    if (instance.refresh) instance.refresh();
  } catch (error) {
    if (error.status !== 401) showProblem(problem, error);
  }
}

function askForKey(error) {
  const form = document.getElementById("key-form");
  form.hidden = false;
  showProblem(document.getElementById("key-problem"), error);
  document.getElementById("api-key").focus();
}

/** The page's settings; until the runtime gives them, the page says why it is empty and asks again. */
async function loadConfig() {
  const problem = document.getElementById("load-problem");
  for (let wait = 1000; ; wait = Math.min(wait * 2, 10_000)) {
    try {
      app.config = await api("GET", "/ui/config.json");
      showProblem(problem, null);
      return;
    } catch (error) {
      const message = `The page could not load its settings (${error.message || error}); trying again…`;
      showProblem(problem, { message });
      await new Promise((resolve) => setTimeout(resolve, wait));
    }
  }
}

async function start() {
  await loadConfig();
  document.getElementById("key-form").addEventListener("submit", (event) => {
    event.preventDefault();
    setApiKey(document.getElementById("api-key").value);
    document.getElementById("key-form").hidden = true;
    show();
  });
  window.addEventListener("hashchange", show);
  window.addEventListener("hm:unauthorized", (event) => askForKey(event.detail));
  if (app.config.apiKeyRequired && !apiKey()) askForKey(null);
  else await show();
}

start();
