// The demo webchat: an end user, a tiny scripted bot, and a handover to a person with the editor's settings and
// the chat so far as the transcript. The chat lives in this tab's sessionStorage, so a reload shows it again and
// resumes the runtime's /events from the last event shown (Last-Event-ID): the state under STATE_KEY and each
// entry of the log under a key of its own, so that a message costs one small write, not a rewrite of the whole
// log (a replay of many events was quadratic).

import { api, authHeaders, failure, showProblem } from "./api.js";
import { readEvents } from "./sse.js";

const STATE_KEY = "hm.chat";
const WANTS_PERSON = /\b(person|human|agent)\b/i;

// What the runtime takes in a start (schemas/openapi.json, HandoverStart and TranscriptTurn): more turns or a
// longer turn is refused with a 422 and the user could never reach a person. Its request body limit
// (max_body_bytes, 1 MiB unless configured otherwise) bounds the whole transcript; the rest is left for the
// settings and the other fields.
const TRANSCRIPT_TURNS = 500;
const TURN_CHARS = 20000;
const TRANSCRIPT_BYTES = 768 * 1024;
// The bot's reply quotes the user's message: kept short so the reply stays a readable line.
const QUOTE_CHARS = 80;

/** The chat's state; its log's entries are kept under entryKey(first) to entryKey(next - 1). */
function freshState() {
  const sessionId = `web-${crypto.randomUUID()}`;
  return { sessionId, handoverId: null, lastEventId: "0", ended: false, first: 0, next: 0 };
}

function entryKey(n) { return `${STATE_KEY}.${n}`; }

/** `text` cut to `limit` code points: the runtime's schema counts code points, and a cut inside a surrogate
 * pair would leave half a character. */
function cut(text, limit) {
  if (text.length <= limit) return text; // UTF-16 units are never fewer than code points
  let units = 0;
  let points = 0;
  for (const character of text) {
    if (points === limit) break;
    points += 1;
    units += character.length;
  }
  return text.slice(0, units);
}

function botReply(text) {
  if (/\b(hi|hello|hey)\b/i.test(text)) return "Hello! I am the demo bot. Ask me anything, or say 'talk to a person'.";
  const short = cut(text, QUOTE_CHARS);
  const quote = short === text ? short : `${short}…`;
  return `I am only a demo bot and cannot help with "${quote}". Say 'talk to a person' to reach an agent.`;
}

/** Whether event id `id` comes after `last`: both are delivery sequence numbers (digits) when the runtime
 * sends them; anything else is let through rather than lost. */
function isAfter(id, last) {
  if (!/^\d+$/.test(id) || !/^\d+$/.test(last)) return true;
  return BigInt(id) > BigInt(last);
}

export class Chat {
  constructor(root, app) {
    this.root = root;
    this.app = app;
    this.state = JSON.parse(sessionStorage.getItem(STATE_KEY) || "null") || freshState();
    this.log = []; // every entry shown, the ones a full storage gave up too
    this.abort = null;
    this.listeningTo = null; // the handover whose event stream is being read
    this.starting = false; // a start is on its way to the runtime
    this.typingSince = 0;
    this.typingTimer = null;
  }

  $(selector) { return this.root.querySelector(selector); }

  async load() {
    this.restore();
    for (const entry of this.log) {
      // A send the tab was closed or reloaded during: whether it arrived is unknown, and a retry under the
      // same id is harmless (the runtime sends an id once).
      if (entry.pending) {
        delete entry.pending;
        entry.failed = true;
      }
      this.render(entry);
    }
    this.$("#chat-form").addEventListener("submit", (event) => {
      event.preventDefault();
      const input = this.$("#chat-input");
      if (input.value.trim()) this.send(input.value.trim());
      input.value = "";
    });
    this.$("#chat-input").addEventListener("input", () => this.typing());
    this.$("#chat-file").addEventListener("change", (event) => {
      const file = event.target.files[0];
      event.target.value = "";
      if (file) this.sendFile(file);
    });
    this.$("#chat-handover").addEventListener("click", () => this.handover());
    this.$("#chat-end").addEventListener("click", () => this.end());
    this.$("#chat-new").addEventListener("click", () => this.reset());
    this.update();
    this.refresh();
  }

  /** Called on every visit too: after a refused key, the stream resumes once a new key is given. */
  refresh() {
    if (this.state.handoverId && !this.state.ended) this.listen();
  }

  /** The log as this tab kept it. */
  restore() {
    const { state } = this;
    if (Array.isArray(state.log)) {
      // The whole chat under one key, as the page kept it before: moved to a key per entry, over whatever
      // entries an earlier chat left.
      const { log } = state;
      delete state.log;
      for (const key of Object.keys(sessionStorage)) {
        if (key.startsWith(`${STATE_KEY}.`)) sessionStorage.removeItem(key);
      }
      state.first = 0;
      state.next = 0;
      this.saveState(); // the whole log under the old key goes first, or it would hold the storage twice
      for (const entry of log) {
        entry.n = state.next++;
        this.log.push(entry);
        this.saveEntry(entry);
      }
      return;
    }
    for (let n = state.first; n < state.next; n += 1) {
      const entry = JSON.parse(sessionStorage.getItem(entryKey(n)) || "null");
      if (entry) this.log.push(entry);
    }
  }

  saveState() { this.store(STATE_KEY, JSON.stringify(this.state)); }

  saveEntry(entry) {
    if (entry.n < this.state.first) return; // given up to a full storage already
    this.store(entryKey(entry.n), JSON.stringify(entry));
    this.saveState(); // `next` moved, or a full storage moved `first`
  }

  /** Write one key. A full storage gives up the oldest entries for it (the page shows them until a reload), so
   * the newest and the stream's position survive a reload; a message is never lost to it. */
  store(key, value) {
    for (;;) {
      try {
        sessionStorage.setItem(key, value);
        return;
      } catch (error) {
        const oldest = this.state.first;
        if (error.name !== "QuotaExceededError" || oldest >= this.state.next || key === entryKey(oldest)) {
          const message = `This chat may not be shown whole after a reload: ${error.message}`;
          showProblem(this.$("#chat-problem"), { message });
          return;
        }
        sessionStorage.removeItem(entryKey(oldest));
        this.state.first = oldest + 1;
      }
    }
  }

  add(entry) {
    entry.at = new Date().toISOString();
    entry.n = this.state.next++;
    this.log.push(entry);
    const item = this.render(entry); // shown first: whatever the storage does, the user sees it
    this.saveEntry(entry);
    return item;
  }

  render(entry) {
    const item = document.createElement("li");
    this.fill(item, entry);
    this.$("#chat-log").append(item);
    return item;
  }

  fill(item, entry) {
    item.className = entry.failed ? `${entry.who} failed` : entry.who;
    const who = { user: "You", bot: "Bot", agent: entry.name || "Agent", system: "" }[entry.who];
    item.textContent = who ? `${who}: ${entry.text}` : entry.text;
    if (entry.choices && !entry.chosen) item.append(this.choiceButtons(entry));
    if (entry.failed) item.append(this.retryButton(entry, item));
  }

  /** The agent's options as buttons; a pick goes to the agent as the user's message with the option's title
   * (the runtime's message API takes text; MIAW's structured choice answer is not offered through it). */
  choiceButtons(entry) {
    const group = document.createElement("span");
    group.className = "choices";
    group.setAttribute("role", "group");
    group.setAttribute("aria-label", "Choices");
    for (const choice of entry.choices) {
      const button = document.createElement("button");
      button.type = "button";
      button.textContent = choice.title;
      button.addEventListener("click", () => {
        entry.chosen = choice.id;
        this.saveEntry(entry);
        this.removeKeepingFocus(group);
        this.send(choice.title);
      });
      group.append(button);
    }
    return group;
  }

  /** A message the runtime did not take: it can be sent again, under the same id so it never arrives twice. */
  retryButton(entry, item) {
    const group = document.createElement("span");
    group.className = "unsent";
    const note = document.createElement("span");
    note.textContent = " (not sent) ";
    const button = document.createElement("button");
    button.type = "button";
    button.textContent = "Retry";
    // Not disabled while it retries: a disabled button would drop the keyboard's focus to the page's top.
    button.addEventListener("click", () => { if (!entry.pending) this.deliver(entry, item); });
    group.append(note, button);
    return group;
  }

  /** Remove controls that may hold the keyboard's focus; the focus goes to the message box, not the page's top. */
  removeKeepingFocus(node) {
    const focused = node.contains(document.activeElement);
    node.remove();
    if (focused) this.$("#chat-input").focus();
  }

  update(status) {
    const live = Boolean(this.state.handoverId) && !this.state.ended;
    const focused = document.activeElement;
    const end = this.$("#chat-end");
    const handover = this.$("#chat-handover");
    end.disabled = !live;
    handover.disabled = live || this.starting;
    // A button disabled under the keyboard's focus would drop it to the page's top.
    if ((focused === end || focused === handover) && focused.disabled) this.$("#chat-input").focus();
    if (status !== undefined) {
      // Kept with the chat: the stream resumes after the last event shown, so no status is told again after a
      // reload, and an ended chat showed no status at all.
      this.state.status = status;
      this.saveState();
    }
    this.$("#chat-status").textContent = this.state.status || "";
  }

  async send(text) {
    if (!this.state.handoverId || this.state.ended) {
      this.add({ who: "user", text });
      if (WANTS_PERSON.test(text)) await this.handover();
      else this.add({ who: "bot", text: botReply(text) });
      return;
    }
    const entry = { who: "user", text, id: `msg-${crypto.randomUUID()}`, to: this.state.handoverId };
    const item = this.add(entry);
    await this.stopTyping();
    await this.deliver(entry, item);
  }

  /** Send a user's message to the agent; shown as not sent, with a Retry, until the runtime took it. */
  async deliver(entry, item) {
    const problem = this.$("#chat-problem");
    const { sessionId } = this.state;
    entry.pending = true;
    this.saveEntry(entry);
    try {
      await api("POST", `/v1/handovers/${entry.to}/messages`, { id: entry.id, text: entry.text });
      delete entry.failed;
      if (this.state.sessionId === sessionId) showProblem(problem, null);
    } catch (error) {
      entry.failed = true;
      if (this.state.sessionId === sessionId) showProblem(problem, error);
    }
    delete entry.pending;
    // "New chat" while it was sent: its number may be a new entry's now, which the old one must not overwrite.
    if (this.state.sessionId !== sessionId) return;
    this.saveEntry(entry);
    const focused = item.contains(document.activeElement);
    this.fill(item, entry);
    if (focused && !item.contains(document.activeElement)) this.$("#chat-input").focus();
  }

  async sendFile(file) {
    const problem = this.$("#chat-problem");
    if (!this.state.handoverId || this.state.ended) {
      showProblem(problem, { message: "Files go to an agent: talk to a person first." });
      return;
    }
    const form = new FormData();
    form.append("id", `file-${crypto.randomUUID()}`);
    form.append("file", file, file.name);
    try {
      await api("POST", `/v1/handovers/${this.state.handoverId}/files`, undefined, { form });
      showProblem(problem, null);
      this.add({ who: "user", text: `[file: ${file.name}]` });
    } catch (error) {
      showProblem(problem, error);
    }
  }

  /** Tell the agent the user is typing (at most every 3 s), and that they stopped after 2 s of quiet. */
  typing() {
    if (!this.state.handoverId || this.state.ended) return;
    const path = `/v1/handovers/${this.state.handoverId}/typing`;
    const now = Date.now();
    if (now - this.typingSince > 3000) {
      this.typingSince = now;
      api("POST", path, { typing: true }).catch((error) => showProblem(this.$("#chat-problem"), error));
    }
    clearTimeout(this.typingTimer);
    this.typingTimer = setTimeout(() => this.stopTyping(), 2000);
  }

  /** Tell the agent the user stopped typing, if they were told it started. */
  async stopTyping() {
    clearTimeout(this.typingTimer);
    if (!this.typingSince) return;
    this.typingSince = 0;
    // A lost "stopped" is corrected by the next message or by the agent's own timeout; not worth an alert.
    await api("POST", `/v1/handovers/${this.state.handoverId}/typing`, { typing: false }).catch(() => {});
  }

  /** The chat so far as the runtime takes it: the newest turns that fit its limits, each cut to its length. */
  transcript() {
    const encoder = new TextEncoder();
    const turns = [];
    let bytes = 0;
    for (let i = this.log.length - 1; i >= 0 && turns.length < TRANSCRIPT_TURNS; i -= 1) {
      const entry = this.log[i];
      if (entry.who !== "user" && entry.who !== "bot") continue;
      const turn = { source: entry.who, text: cut(entry.text, TURN_CHARS), timestamp: entry.at };
      bytes += encoder.encode(JSON.stringify(turn)).length + 1;
      if (bytes > TRANSCRIPT_BYTES) break;
      turns.push(turn);
    }
    return turns.reverse();
  }

  async handover() {
    // One start at a time: a double click, or a click while "talk to a person" is being answered, would
    // start two and read two event streams, showing every agent message twice.
    if (this.starting || (this.state.handoverId && !this.state.ended)) return;
    this.starting = true;
    this.update();
    const problem = this.$("#chat-problem");
    try {
      const editor = await this.app.view("editor");
      const body = {
        connector: this.app.config.connector || "demo",
        sessionId: this.state.sessionId,
        userId: "webchat-user",
        settings: editor.settings(),
        transcript: this.transcript(),
      };
      const handover = await api("POST", "/v1/handovers", body);
      showProblem(problem, null);
      this.state.handoverId = handover.id;
      this.state.ended = false;
      this.state.lastEventId = "0";
      this.add({ who: "system", text: "Connecting you to an agent…" });
      this.starting = false;
      this.update("Waiting for an agent");
      this.listen();
    } catch (error) {
      showProblem(problem, error);
    } finally {
      this.starting = false;
      this.update();
    }
  }

  async end() {
    try {
      await api("DELETE", `/v1/handovers/${this.state.handoverId}`);
      return true;
    } catch (error) {
      if (error.status === 404) {
        this.gone();
        return true;
      }
      showProblem(this.$("#chat-problem"), error);
      return false;
    }
  }

  /** Start over; a live handover is ended first, or the agent would stay connected to nobody. */
  async reset() {
    if (this.state.handoverId && !this.state.ended && !(await this.end())) return;
    if (this.abort) this.abort.abort();
    clearTimeout(this.typingTimer);
    for (let n = this.state.first; n < this.state.next; n += 1) sessionStorage.removeItem(entryKey(n));
    this.state = freshState();
    this.log = [];
    this.saveState();
    this.$("#chat-log").replaceChildren();
    this.$("#chat-typing").hidden = true;
    this.update("");
  }

  async listen() {
    const handoverId = this.state.handoverId;
    // One stream per handover: a second one would show (and keep) every event twice.
    if (this.listeningTo === handoverId) return;
    if (this.abort) this.abort.abort();
    const abort = new AbortController();
    this.abort = abort;
    this.listeningTo = handoverId;
    try {
      while (this.state.handoverId === handoverId && !this.state.ended) {
        try {
          const response = await fetch(`/v1/handovers/${handoverId}/events`, {
            headers: { ...authHeaders(), "Last-Event-ID": this.state.lastEventId },
            signal: abort.signal,
          });
          if (response.status === 404) {
            this.gone();
            return;
          }
          if (response.status === 401) {
            // failure() asks for another key; refresh() resumes once it is given, retrying now would be refused.
            showProblem(this.$("#chat-problem"), await failure(response));
            return;
          }
          if (!response.ok) throw new Error(`the event stream answered ${response.status}`);
          await readEvents(response, (event) => {
            if (!abort.signal.aborted && this.state.handoverId === handoverId) this.event(event);
          });
        } catch (error) {
          if (error.name === "AbortError") return;
        }
        if (!this.state.ended) await new Promise((resolve) => setTimeout(resolve, 1000));
      }
    } finally {
      if (this.abort === abort) this.listeningTo = null;
    }
  }

  /** The runtime no longer knows the handover (its store was removed, as a restarted demo's is). */
  gone() {
    this.state.ended = true;
    this.$("#chat-typing").hidden = true;
    const text = "This conversation is over: the runtime no longer knows it. Talk to a person to start again.";
    this.add({ who: "system", text });
    this.update("Ended");
  }

  event({ id, event, data }) {
    if (id) {
      // Told again (a replay from an older position, or a second stream): it is on the page already.
      if (!isAfter(id, this.state.lastEventId)) return;
      this.state.lastEventId = id;
    }
    const delivery = JSON.parse(data);
    const body = delivery.data;
    if (event === "agent.message") {
      this.$("#chat-typing").hidden = true;
      let text = body.text || "";
      for (const file of body.attachments || []) text += ` [file: ${file.name}]`;
      const choices = body.choices || [];
      if (choices.length) text += ` [choices: ${choices.map((c) => c.title).join(" | ")}]`;
      this.add({ who: "agent", name: body.agent && body.agent.name, text, ...(choices.length ? { choices } : {}) });
    } else if (event === "handover.ended") {
      this.state.ended = true;
      this.$("#chat-typing").hidden = true;
      this.add({ who: "system", text: `The conversation has ended (${body.status}: ${body.reason}).` });
      this.update("Ended");
    } else this.status(body);
    this.saveState();
  }

  status(body) {
    const agent = (body.agent && body.agent.name) || "The agent";
    switch (body.status) {
      case "queue": {
        const parts = [];
        if (body.position !== undefined) parts.push(`position ${body.position}`);
        if (body.estimatedWaitSeconds !== undefined) parts.push(`about ${body.estimatedWaitSeconds} s`);
        const text = `Waiting for an agent${parts.length ? ` (${parts.join(", ")})` : ""}`;
        this.add({ who: "system", text });
        this.update(text);
        break;
      }
      case "active":
        this.add({ who: "system", text: `${agent} joined the conversation.` });
        this.update(`Talking to ${agent}`);
        break;
      case "typing_started": this.$("#chat-typing").hidden = false; break;
      case "typing_stopped": this.$("#chat-typing").hidden = true; break;
      case "delivered": case "read": this.update(`Your last message was ${body.status}.`); break;
      // The agent who was typing is gone: their "typing" would otherwise stay up until someone else types.
      case "agent_left":
        this.$("#chat-typing").hidden = true;
        this.add({ who: "system", text: `${agent} left the conversation.` });
        this.update(`${agent} left the conversation`);
        break;
      case "transferred":
        this.$("#chat-typing").hidden = true;
        this.add({ who: "system", text: "You are being transferred to another agent." });
        this.update("Being transferred to another agent");
        break;
      default: this.add({ who: "system", text: `Status: ${body.status}${body.reason ? ` (${body.reason})` : ""}` });
    }
  }
}
