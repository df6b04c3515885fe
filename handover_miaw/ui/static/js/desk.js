// The agent desk: the simulator standing in for Salesforce's console. It calls the simulator's /_sim control API,
// which `demo --web` mounts on this same origin under the path the runtime names in /ui/config.json.

import { api, showProblem } from "./api.js";
import { Poller } from "./poller.js";

// The pause between the end of one refresh and the start of the next.
const POLL_MS = 700;

const FAULTS = {
  drop: ["POST", "/faults/drop-streams", {}, "every open event stream dropped"],
  503: ["POST", "/faults/http", { endpoint: "send_message", status: 503, count: 3 }, "the next 3 sends answer 503"],
  expire: ["POST", "/faults/expire-tokens", {}, "every access token expired"],
  clear: ["DELETE", "/faults", undefined, "faults cleared"],
};

function element(tag, attributes = {}, text = null) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) node.setAttribute(name, value);
  if (text !== null) node.textContent = text;
  return node;
}

export class Desk {
  constructor(root, app) {
    this.root = root;
    this.app = app;
    this.cards = new Map();
    this.pollFailed = false; // the problem shown is a refresh's, to clear once one succeeds
    this.poller = new Poller(() => this.update(), () => this.seen, POLL_MS);
  }

  $(selector) { return this.root.querySelector(selector); }

  get base() { return `${this.app.config.simulator}/_sim`; }

  async load() {
    const on = Boolean(this.app.config.simulator);
    this.$("#desk-off").hidden = on;
    this.$("#desk-on").hidden = !on;
    if (!on) return;
    for (const button of this.root.querySelectorAll("[data-fault]")) {
      button.addEventListener("click", () => this.fault(button.dataset.fault));
    }
    await this.poller.start();
  }

  /** Whether anyone can see the desk: the simulator is there, the tab is not hidden and the view is shown. */
  get seen() {
    return Boolean(this.app.config.simulator) && document.visibilityState !== "hidden" && !this.root.hidden;
  }

  async call(method, path, body, done) {
    const problem = this.$("#desk-problem");
    this.pollFailed = false; // what this call says replaces what a refresh said
    try {
      await api(method, `${this.base}${path}`, body);
      showProblem(problem, null);
      if (done) this.$("#desk-fault-status").textContent = `Fault: ${done}`;
      await this.refresh();
    } catch (error) {
      showProblem(problem, error);
    }
  }

  fault(name) {
    const [method, path, body, done] = FAULTS[name];
    this.call(method, path, body, done);
  }

  /** Show the server's state now (or right after the refresh in flight), then while the view is seen. */
  refresh() { return this.poller.refresh(); }

  /** One look at the simulator's conversations. */
  async update() {
    try {
      const { conversations } = await api("GET", `${this.base}/conversations`);
      for (const conversation of conversations) {
        const id = conversation.conversationId;
        if (!this.cards.has(id)) this.cards.set(id, this.card(conversation));
        this.fill(this.cards.get(id), conversation);
      }
    } catch (error) {
      this.pollFailed = true;
      showProblem(this.$("#desk-problem"), error);
      return;
    }
    // A refresh's failure is over once one succeeds; a button's failure stays until the next button.
    if (this.pollFailed) {
      this.pollFailed = false;
      showProblem(this.$("#desk-problem"), null);
    }
  }

  card(conversation) {
    const id = conversation.conversationId;
    const short = id.slice(0, 8);
    const item = element("li", { "data-conversation": id });
    const heading = element("h4", {}, `Conversation ${short}`);
    const status = element("p", { class: "desk-status", role: "status" });
    const messages = element("ol", { class: "desk-messages", "aria-label": `Messages from the user in ${short}` });
    const actions = element("div", { class: "row" });
    const agent = () => this.$("#agent-name").value || "Agent";
    const path = `/conversations/${id}`;
    const button = (text, handler) => {
      const b = element("button", { type: "button" }, text);
      b.addEventListener("click", handler);
      actions.append(b);
      return b;
    };
    button("Route to queue", () => this.call("POST", `${path}/route`, { queuePosition: 1, estimatedWaitSeconds: 60 }));
    button("Accept", () => this.call("POST", `${path}/accept`, { agent: agent() }));
    let typingOn = false;
    const typing = button("Start typing", () => {
      typingOn = !typingOn;
      typing.textContent = typingOn ? "Stop typing" : "Start typing";
      this.call("POST", `${path}/typing`, { on: typingOn, agent: agent() });
    });
    button("Send a file", () => this.call("POST", `${path}/files`, {
      name: "receipt.pdf", mimeType: "application/pdf", url: `${this.base}/files/receipt`, agent: agent(),
    }));
    button("Offer choices", () => this.call("POST", `${path}/choices`, {
      text: "How can I help?", options: ["Refund", "Replacement"], agent: agent(),
    }));
    button("Mark delivered", () => this.call("POST", `${path}/delivered`, { agent: agent() }));
    button("Mark read", () => this.call("POST", `${path}/read`, { agent: agent() }));
    button("Leave", () => this.call("POST", `${path}/leave`, {}));
    button("End", () => this.call("POST", `${path}/end`, {}));
    button("Close", () => this.call("POST", `${path}/close`, {}));

    const reply = element("form", { class: "row" });
    const replyId = `reply-${id}`;
    reply.append(element("label", { for: replyId }, "Reply"), element("input", { id: replyId, autocomplete: "off" }));
    reply.append(element("button", { type: "submit" }, "Send reply"));
    reply.addEventListener("submit", (event) => {
      event.preventDefault();
      const input = reply.querySelector("input");
      const text = input.value.trim();
      input.value = "";
      if (text) this.call("POST", `${path}/messages`, { text, agent: agent() });
    });
    const transfer = element("form", { class: "row" });
    const transferId = `transfer-${id}`;
    transfer.append(element("label", { for: transferId }, "Transfer to"), element("input", { id: transferId }));
    transfer.append(element("button", { type: "submit" }, "Transfer"));
    transfer.addEventListener("submit", (event) => {
      event.preventDefault();
      this.call("POST", `${path}/transfer`, { to: transfer.querySelector("input").value || "Bob" });
    });
    item.append(heading, status, messages, actions, reply, transfer);
    this.$("#desk-list").prepend(item);
    return item;
  }

  fill(item, conversation) {
    const parts = [`routing ${conversation.routingStatus}`, `session ${conversation.sessionStatus}`];
    if (conversation.agent) parts.push(`agent ${conversation.agent}`);
    if (conversation.endUserTyping) parts.push("the user is typing…");
    if (conversation.closed) parts.push("closed");
    // A role=status line is read out on every write: only a change is written.
    const status = item.querySelector(".desk-status");
    const text = parts.join(" · ");
    if (status.textContent !== text) status.textContent = text;
    const list = item.querySelector(".desk-messages");
    const texts = conversation.endUserMessages.map((m) => m.text ?? `[${m.messageType}${m.fileName ? ` ${m.fileName}` : ""}]`);
    if (list.children.length !== texts.length) {
      list.replaceChildren(...texts.map((text) => element("li", {}, text)));
    }
  }
}
