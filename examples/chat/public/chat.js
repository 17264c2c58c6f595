// The chat page: the official Convex browser client (global `convex`, loaded by index.html) talking to
// the Ripple server that serves this page. No build step.
//   - messages:get_messages is kept live with client.onUpdate; the list re-renders on every change;
//   - messages:send_message is called on Enter; a ConvexError's data is shown in the status line;
//   - the name is remembered in localStorage.
"use strict";

(function () {
  const NAME_KEY = "ripple-chat:author";
  const $ = (id) => document.getElementById(id);
  const feed = $("feed"); // the scrolling area
  const list = $("messages");
  const empty = $("empty");
  const status = $("status");
  const form = $("composer");
  const author = $("author");
  const body = $("body");

  // ---- status line: connection state, or the last error until the next successful send ------------

  let connection = "connecting";
  let error = null;

  function showStatus() {
    if (error !== null) {
      status.dataset.state = "error";
      status.textContent = error;
      return;
    }
    status.dataset.state = connection;
    status.textContent = {
      connecting: "Connecting…",
      connected: "Connected",
      reconnecting: "Connection lost; reconnecting…",
    }[connection];
  }

  function describeError(err) {
    const data = err && err.data;
    if (data !== undefined) { // a ConvexError thrown by the function: its data says what went wrong
      if (data && data.code === "MessageTooLong") {
        return `Message too long: ${data.length} characters (at most ${data.maxLength}).`;
      }
      return `Error: ${typeof data === "string" ? data : JSON.stringify(data)}`;
    }
    // "[CONVEX M(messages:send_message)] messages:send_message: Uncaught ValueError: …\n  Called by client"
    const text = String((err && err.message) || err).split("\n")[0];
    return "Error: " + text.replace(/^\[CONVEX [^\]]*\]\s*/, "").replace(/^(\[Request ID: [^\]]*\]\s*)/, "");
  }

  // ---- the client ---------------------------------------------------------------------------------

  const client = new convex.ConvexClient(location.origin);

  if (typeof client.subscribeToConnectionState === "function") {
    client.subscribeToConnectionState((state) => {
      connection = state.isWebSocketConnected ? "connected" : state.hasEverConnected ? "reconnecting" : "connecting";
      showStatus();
    });
  }

  // ---- messages -----------------------------------------------------------------------------------

  const timeFormat = new Intl.DateTimeFormat(undefined, { hour: "2-digit", minute: "2-digit" });

  function nearBottom() {
    return feed.scrollHeight - feed.scrollTop - feed.clientHeight < 80;
  }

  function render(messages) {
    const follow = nearBottom();
    const me = author.value.trim();
    const items = messages.map((m) => {
      const li = document.createElement("li");
      li.className = "message" + (m.author === me ? " mine" : "") + (m.author === "Wikipedia" ? " bot" : "");
      li.dataset.id = m._id;
      const meta = document.createElement("div");
      meta.className = "meta";
      const who = document.createElement("span");
      who.className = "author";
      who.textContent = m.author;
      const when = document.createElement("time");
      const created = new Date(m._creationTime);
      when.dateTime = created.toISOString();
      when.textContent = timeFormat.format(created);
      meta.append(who, when);
      const text = document.createElement("p");
      text.className = "body";
      text.textContent = m.body;
      li.append(meta, text);
      return li;
    });
    list.replaceChildren(...items);
    empty.hidden = messages.length > 0;
    if (follow || (messages.length && messages[messages.length - 1].author === me)) {
      feed.scrollTop = feed.scrollHeight;
    }
  }

  client.onUpdate("messages:get_messages", {}, render, (err) => {
    error = describeError(err);
    showStatus();
  });

  // ---- composing ----------------------------------------------------------------------------------

  author.value = localStorage.getItem(NAME_KEY) || `guest-${Math.floor(1000 + Math.random() * 9000)}`;
  localStorage.setItem(NAME_KEY, author.value);
  author.addEventListener("change", () => localStorage.setItem(NAME_KEY, author.value.trim()));

  form.addEventListener("submit", async (event) => {
    event.preventDefault(); // Enter in either field submits the form
    const name = author.value.trim();
    const text = body.value;
    if (!name) {
      author.focus();
      return;
    }
    if (!text.trim()) return;
    localStorage.setItem(NAME_KEY, name);
    body.value = "";
    try {
      await client.mutation("messages:send_message", { author: name, body: text });
      error = null;
    } catch (err) {
      if (body.value === "") body.value = text; // give the text back so it can be fixed
      error = describeError(err);
    }
    showStatus();
    body.focus();
  });

  showStatus();
  body.focus();
})();
