// Server-sent events over fetch: EventSource can send neither the API key nor a Last-Event-ID of our choosing,
// and a reload must resume from the last event this tab has shown.

/** Read one SSE response, calling onEvent({id, event, data}) per event; resolves when the stream ends. */
export async function readEvents(response, onEvent) {
  const reader = response.body.getReader();
  const decoder = new TextDecoder();
  let buffer = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    buffer += decoder.decode(value, { stream: true });
    // A CR at the end may be the first half of a CRLF: keep it for the next chunk.
    const held = buffer.endsWith("\r") ? "\r" : "";
    buffer = buffer.slice(0, buffer.length - held.length).replace(/\r\n|\r/g, "\n");
    let end;
    while ((end = buffer.indexOf("\n\n")) >= 0) {
      const block = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      const event = { id: null, event: "message", data: [] };
      for (const line of block.split("\n")) {
        if (!line || line.startsWith(":")) continue;
        const colon = line.indexOf(":");
        const name = colon < 0 ? line : line.slice(0, colon);
        let value = colon < 0 ? "" : line.slice(colon + 1);
        if (value.startsWith(" ")) value = value.slice(1);
        if (name === "data") event.data.push(value);
        else if (name === "id") event.id = value;
        else if (name === "event") event.event = value;
      }
      if (event.data.length) onEvent({ ...event, data: event.data.join("\n") });
    }
    buffer += held;
  }
}
