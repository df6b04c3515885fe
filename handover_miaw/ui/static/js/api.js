// Calls to this runtime only. JSON bodies always go with Content-Type: application/json; the API key, when the
// runtime needs one, lives in this tab's sessionStorage and nowhere else.

const KEY = "hm.apiKey";

export class ApiError extends Error {
  constructor(status, error) {
    super(error.message || `HTTP ${status}`);
    this.status = status;
    this.code = error.code || "error";
    this.pointer = error.pointer ?? null;
    this.problems = error.problems || [];
  }
}

// After a 401 no call goes out until a new key is given: polling views would only collect more refusals.
let refused = null;

export function apiKey() { return sessionStorage.getItem(KEY); }
export function setApiKey(value) {
  sessionStorage.setItem(KEY, value);
  refused = null;
}

export function authHeaders() {
  const key = apiKey();
  return key ? { Authorization: `Bearer ${key}` } : {};
}

async function parse(response) {
  const text = await response.text();
  if (!text) return null;
  try { return JSON.parse(text); } catch { return { error: { code: "not_json", message: text.slice(0, 200) } }; }
}

/** Call the API; resolves to the parsed body, rejects with ApiError carrying the API's own message. */
export async function api(method, path, body, { raw = null, contentType = null, form = null } = {}) {
  const headers = { ...authHeaders() };
  let payload;
  if (form !== null) {
    payload = form; // multipart: the browser writes the Content-Type with its boundary
  } else if (raw !== null) {
    payload = raw;
    headers["Content-Type"] = contentType;
  } else if (body !== undefined) {
    payload = JSON.stringify(body);
    headers["Content-Type"] = "application/json";
  }
  if (refused) throw refused;
  const response = await fetch(path, { method, headers, body: payload });
  if (!response.ok) throw await failure(response);
  return parse(response);
}

/** The ApiError of a refused response; a 401 asks for a key, for a response read with `fetch` too. */
export async function failure(response) {
  const data = await parse(response);
  const error = new ApiError(response.status, (data && data.error) || { message: `HTTP ${response.status}` });
  if (response.status === 401 && !refused) {
    refused = error;
    window.dispatchEvent(new CustomEvent("hm:unauthorized", { detail: error }));
  }
  return error;
}

/** Show an error's message in a problem element (or hide it when error is null). */
export function showProblem(element, error) {
  element.hidden = !error;
  element.textContent = error ? (error.message || String(error)) : "";
}
