// The npm ConvexClient (WebSocket) against the probe app:   node ws_client.mjs URL LIST
// actions (success and ConvexError), a failing subscription reported through onUpdate's onError with
// its ConvexError data, an unknown function, and a subscription that keeps working next to them.
import { ConvexClient } from "convex/browser";
import { ConvexError } from "convex/values";
import { describeError, emit, main, waitFor, within } from "./util.mjs";

const [url, list] = process.argv.slice(2);

main(async () => {
  const client = new ConvexClient(url);
  const got = { count: [], failing: null, unknown: null };
  client.onUpdate("notes:count", { list }, (v) => got.count.push(v));
  client.onUpdate("notes:fail_query", { data: { code: "Nope", n: 2 } }, () => {}, (err) => {
    got.failing = { ...describeError(err), isConvexError: err instanceof ConvexError };
  });
  client.onUpdate("notes:missing", {}, () => {}, (err) => {
    got.unknown = { ...describeError(err), isConvexError: err instanceof ConvexError };
  });
  await waitFor(() => got.count.length && got.failing && got.unknown, 10000, "the three subscriptions");
  const shout = await within(client.action("notes:shout", { text: "ws" }), 10000, "shout");
  let actionError = null;
  try {
    await within(client.action("notes:fail_action", { data: ["a", 1.25] }), 10000, "fail_action");
  } catch (err) {
    actionError = { ...describeError(err), isConvexError: err instanceof ConvexError };
  }
  const viaAction = await within(client.action("notes:add_via_action", { list, text: "a" }), 10000, "add_via_action");
  await waitFor(() => got.count.includes(1), 10000, "the count to reach 1");
  await within(client.mutation("notes:add", { list, text: "b" }), 10000, "add");
  await waitFor(() => got.count.includes(2), 10000, "the count to reach 2");
  emit("result", { ...got, shout, actionError, viaAction });
  await client.close();
});
