// The chat example through the official npm ConvexClient, as two users:
//   node chat_session.mjs URL TOKEN
// A and B subscribe to messages:get_messages; A sends a message (the awaited mutation must resolve
// with the new message already in A's subscription); B sees it live; an over-long message fails with a
// ConvexError carrying its data; an empty one fails with a plain error; "/wiki <topic>" is answered by
// a "Wikipedia" message that both see. Prints one JSON result.
import { ConvexClient } from "convex/browser";
import { ConvexError } from "convex/values";
import { describeError, emit, main, waitFor, within } from "./util.mjs";

const [url, token] = process.argv.slice(2);

main(async () => {
  const a = new ConvexClient(url);
  const b = new ConvexClient(url);
  const last = { a: null, b: null };
  const updates = { a: 0, b: 0 };
  const subA = a.onUpdate("messages:get_messages", {}, (v) => { last.a = v; updates.a++; });
  b.onUpdate("messages:get_messages", {}, (v) => { last.b = v; updates.b++; });
  await waitFor(() => last.a && last.b, 10000, "the first results");

  const body = `hello from ${token}`;
  const id = await within(a.mutation("messages:send_message", { author: token, body }), 10000, "send_message");
  // At resolution the write must already be in the subscription (read-your-writes).
  const inCurrentValue = subA.getCurrentValue().some((m) => m._id === id);
  const inLastCallback = last.a.some((m) => m._id === id);
  const seenByB = await waitFor(() => last.b.find((m) => m._id === id), 10000, "B to see A's message");

  let tooLong = null;
  try {
    await within(a.mutation("messages:send_message", { author: token, body: "x".repeat(2001) }), 10000, "too long");
  } catch (err) {
    tooLong = { ...describeError(err), isConvexError: err instanceof ConvexError };
  }
  let empty = null;
  try {
    await within(a.mutation("messages:send_message", { author: token, body: "   " }), 10000, "empty");
  } catch (err) {
    empty = { ...describeError(err), isConvexError: err instanceof ConvexError };
  }

  const topic = `Topic ${token}`;
  await within(a.mutation("messages:send_message", { author: token, body: `/wiki ${topic}` }), 10000, "/wiki");
  const reply = (v) => v && v.find((m) => m.author === "Wikipedia" && m.body.includes(topic));
  const replyB = await waitFor(() => reply(last.b), 20000, "the /wiki reply in B");
  const replyA = await waitFor(() => reply(last.a), 5000, "the /wiki reply in A");

  emit("result", {
    id, body, inCurrentValue, inLastCallback, seenByB: seenByB.body, updates,
    tooLong, empty, wikiReplyA: replyA.body, wikiReplyB: replyB.body,
  });
  await a.close();
  await b.close();
});
