// Polling for a view that shows server state: only while someone can see it, one request at a time.

/** Calls `update` now and again `periodMs` after each call finished, while `seen()` holds. A hidden tab stops
 * it (a view left open in a background tab would call the server forever) and it runs at once when shown
 * again; leaving the view stops it, and main.js refreshes the view on return. Never two calls at once: one
 * asked for while another is in flight (a button, a filter) follows as soon as that one finished, so a slow
 * server gets one request at a time however long it takes, and a click still shows its result. */
export class Poller {
  constructor(update, seen, periodMs) {
    this.update = update;
    this.seen = seen;
    this.periodMs = periodMs;
    this.timer = null; // the next call, while the view is seen and none is running
    this.running = null; // the call in flight
    this.again = false; // a call was asked for while one was in flight
  }

  /** Follow the page's visibility and the view's hash, and call at once. */
  start() {
    document.addEventListener("visibilitychange", () => this.refresh());
    window.addEventListener("hashchange", () => { if (!this.seen()) this.stop(); });
    return this.refresh();
  }

  stop() {
    clearTimeout(this.timer);
    this.timer = null;
  }

  /** Call now (or right after the call in flight); resolves when the view shows the result. */
  refresh() {
    this.stop();
    if (this.running) this.again = true;
    else if (this.seen()) this.running = this.poll();
    return this.running;
  }

  async poll() {
    try {
      do {
        this.again = false;
        await this.update();
      } while (this.again && this.seen());
    } finally {
      this.running = null;
      if (this.seen()) this.timer = setTimeout(() => this.refresh(), this.periodMs);
    }
  }
}
