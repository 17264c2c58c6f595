// A server restart in the middle of an npm ConvexClient session (driven by the test over stdin/stdout):
//   node restart.mjs URL TOKEN
//  1. subscribe to messages:get_messages; send m1 normally                      -> "ready"
//  2. send m2 while the socket drops MutationResponses: the server commits m2 but the client never
//     hears back, so m2 stays in flight                                         -> "response-dropped"
//  3. test: stop the server; "down" -> send m3 while it is down                  -> "m3-sent"
//  4. test: start it again (same port and data); "up" -> the client reconnects, re-subscribes and
//     re-sends m2 (same sessionId and requestId: the server must answer from its dedup table, not run
//     it again) and m3; a message the test posts over HTTP must arrive in the subscription -> "result"
import WebSocket from "ws";
import { ConvexClient } from "convex/browser";
import { emit, main, nextCommand, waitFor, within } from "./util.mjs";

const [url, token] = process.argv.slice(2);

let dropping = false;
const dropped = [];
const sockets = [];

// The `ws` WebSocket with a filter on incoming messages: while `dropping`, MutationResponses vanish.
class LossyWebSocket extends WebSocket {
  constructor(...args) {
    super(...args);
    sockets.push(this);
  }
  get onmessage() {
    return super.onmessage;
  }
  set onmessage(handler) {
    super.onmessage = (event) => {
      if (dropping) {
        const msg = JSON.parse(event.data);
        if (msg.type === "MutationResponse") {
          dropped.push(msg);
          return;
        }
      }
      handler(event);
    };
  }
}

main(async () => {
  const client = new ConvexClient(url, { webSocketConstructor: LossyWebSocket });
  let last = null;
  let updates = 0;
  client.onUpdate("messages:get_messages", {}, (v) => { last = v; updates++; });
  await waitFor(() => last, 10000, "the first result");
  const body = (n) => `${token} ${n}`;
  const has = (text) => last && last.some((m) => m.body === text);
  const count = (text) => (last || []).filter((m) => m.body === text).length;

  const m1 = await within(client.mutation("messages:send_message", { author: token, body: body("m1") }), 10000, "m1");
  emit("ready", { m1 });

  dropping = true;
  const m2 = client.mutation("messages:send_message", { author: token, body: body("m2") });
  await waitFor(() => dropped.length, 10000, "m2's MutationResponse (to drop)");
  emit("response-dropped", { response: dropped[0] });

  await nextCommand(); // "down"
  dropping = false;
  const m3 = client.mutation("messages:send_message", { author: token, body: body("m3") });
  emit("m3-sent");

  await nextCommand(); // "up"
  const [m2id, m3id] = await within(Promise.all([m2, m3]), 30000, "m2 and m3 after the restart");
  await waitFor(() => has(body("m2")) && has(body("m3")), 10000, "m2 and m3 in the subscription");
  await waitFor(() => has(body("http")), 15000, "the message posted over HTTP after the restart");
  const m4 = await within(client.mutation("messages:send_message", { author: token, body: body("m4") }), 10000, "m4");
  await waitFor(() => has(body("m4")), 5000, "m4 in the subscription");
  const state = client.connectionState();
  emit("result", {
    m1, m2: m2id, m3: m3id, m4, updates, sockets: sockets.length,
    connectionCount: state.connectionCount, connected: state.isWebSocketConnected,
    counts: Object.fromEntries(["m1", "m2", "m3", "m4", "http"].map((n) => [n, count(body(n))])),
  });
  await client.close();
});
