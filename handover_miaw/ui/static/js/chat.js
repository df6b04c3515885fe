// The demo webchat: an end user, a tiny scripted bot, and a handover to a person with the editor's settings and
// the chat so far as the transcript. The chat lives in this tab's sessionStorage, so a reload shows it again and
// resumes the runtime's /events from the last event shown (Last-Event-ID).

import { api, authHeaders, failure, showProblem } from "./api.js";
import { readEvents } from "./sse.js";

const STATE_KEY = "hm.chat";
const WANTS_PERSON = /\b(person|human|agent)\b/i;

function freshState() {
  return { sessionId: `web-${crypto.randomUUID()}`, log: [], handoverId: null, lastEventId: "0", ended: false };
}

function botReply(text) {
  if (/\b(hi|hello|hey)\b/i.test(text)) return "Hello! I am the demo bot. Ask me anything, or say 'talk to a person'.";
  return `I am only a demo bot and cannot help with "${text}". Say 'talk to a person' to reach an agent.`;
}

export class Chat {
  constructor(root, app) {
    this.root = root;
    this.app = app;
    this.state = JSON.parse(sessionStorage.getItem(STATE_KEY) || "null") || freshState();
    this.abort = null;
    this.listening = false;
    this.typingSince = 0;
    this.typingTimer = null;
  }

  $(selector) { return this.root.querySelector(selector); }

  async load() {
    for (const entry of this.state.log) this.render(entry);
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
    if (this.state.handoverId && !this.state.ended && !this.listening) this.listen();
  }

  save() { sessionStorage.setItem(STATE_KEY, JSON.stringify(this.state)); }

  add(entry) {
    entry.at = new Date().toISOString();
    this.state.log.push(entry);
    this.save();
    this.render(entry);
  }

  render(entry) {
    const item = document.createElement("li");
    item.className = entry.who;
    const who = { user: "You", bot: "Bot", agent: entry.name || "Agent", system: "" }[entry.who];
    item.textContent = who ? `${who}: ${entry.text}` : entry.text;
    if (entry.choices && !entry.chosen) item.append(this.choiceButtons(entry, item));
    this.$("#chat-log").append(item);
  }

  /** The agent's options as buttons; a pick goes to the agent as the user's message with the option's title
   * (the runtime's message API takes text; MIAW's structured choice answer is not offered through it). */
  choiceButtons(entry, item) {
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
        item.removeChild(group);
        this.send(choice.title);
      });
      group.append(button);
    }
    return group;
  }

  update(status) {
    const live = Boolean(this.state.handoverId) && !this.state.ended;
    this.$("#chat-end").disabled = !live;
    this.$("#chat-handover").disabled = live;
    if (status !== undefined) {
      // Kept with the chat: the stream resumes after the last event shown, so no status is told again after a
      // reload, and an ended chat showed no status at all.
      this.state.status = status;
      this.save();
    }
    this.$("#chat-status").textContent = this.state.status || "";
  }

  async send(text) {
    const problem = this.$("#chat-problem");
    this.add({ who: "user", text });
    if (!this.state.handoverId || this.state.ended) {
      if (WANTS_PERSON.test(text)) await this.handover();
      else this.add({ who: "bot", text: botReply(text) });
      return;
    }
    await this.stopTyping();
    try {
      const id = `msg-${crypto.randomUUID()}`;
      await api("POST", `/v1/handovers/${this.state.handoverId}/messages`, { id, text });
      showProblem(problem, null);
    } catch (error) {
      showProblem(problem, error);
    }
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

  async handover() {
    const problem = this.$("#chat-problem");
    try {
      const editor = await this.app.view("editor");
      const transcript = this.state.log
        .filter((e) => e.who === "user" || e.who === "bot")
        .map((e) => ({ source: e.who, text: e.text, timestamp: e.at }));
      const body = {
        connector: this.app.config.connector || "demo",
        sessionId: this.state.sessionId,
        userId: "webchat-user",
        settings: editor.settings(),
        transcript,
      };
      const handover = await api("POST", "/v1/handovers", body);
      showProblem(problem, null);
      this.state.handoverId = handover.id;
      this.state.ended = false;
      this.state.lastEventId = "0";
      this.add({ who: "system", text: "Connecting you to an agent…" });
      this.update("Waiting for an agent");
      this.listen();
    } catch (error) {
      showProblem(problem, error);
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
    this.state = freshState();
    this.save();
    this.$("#chat-log").replaceChildren();
    this.$("#chat-typing").hidden = true;
    this.update("");
  }

  async listen() {
    const handoverId = this.state.handoverId;
    const abort = new AbortController();
    this.abort = abort;
    this.listening = true;
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
          await readEvents(response, (event) => this.event(event));
        } catch (error) {
          if (error.name === "AbortError") return;
        }
        if (!this.state.ended) await new Promise((resolve) => setTimeout(resolve, 1000));
      }
    } finally {
      if (this.abort === abort) this.listening = false;
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
    if (id) this.state.lastEventId = id;
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
    this.save();
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
      case "agent_left": this.add({ who: "system", text: `${agent} left the conversation.` }); break;
      case "transferred": this.add({ who: "system", text: "You are being transferred to another agent." }); break;
      default: this.add({ who: "system", text: `Status: ${body.status}${body.reason ? ` (${body.reason})` : ""}` });
    }
  }
}
