// The npm ConvexHttpClient against the probe app:   node http_client.mjs URL LIST
// query / mutation / action, a mutation through an action, ConvexError data from each kind, and
// consistentQuery (one snapshot for the client's lifetime: /api/query_ts, then /api/query_at_ts).
import { ConvexHttpClient } from "convex/browser";
import { ConvexError } from "convex/values";
import { describeError, emit, main } from "./util.mjs";

const [url, list] = process.argv.slice(2);

async function failure(promise) {
  try {
    await promise;
    return null;
  } catch (err) {
    return { ...describeError(err), isConvexError: err instanceof ConvexError };
  }
}

main(async () => {
  const http = new ConvexHttpClient(url);
  const before = await http.query("notes:count", { list });
  const id = await http.mutation("notes:add", { list, text: "one" });
  const viaAction = await http.action("notes:add_via_action", { list, text: "two" });
  const shout = await http.action("notes:shout", { text: "hi" });
  const notes = await http.query("notes:in_list", { list });

  const snapshot = new ConvexHttpClient(url);
  const consistentBefore = await snapshot.consistentQuery("notes:count", { list });
  await http.mutation("notes:add", { list, text: "three" });
  const consistentAfter = await snapshot.consistentQuery("notes:count", { list });
  const latest = await http.query("notes:count", { list });

  const data = { why: "because", n: 1.5, nested: [true, null, "x"] };
  emit("result", {
    before, id, viaAction, shout, texts: notes.map((n) => n.text), ids: notes.map((n) => n._id),
    consistentBefore, consistentAfter, latest,
    errors: {
      mutation: await failure(http.mutation("notes:fail_mutation", { data })),
      query: await failure(http.query("notes:fail_query", { data: "plain string" })),
      action: await failure(http.action("notes:fail_action", { data })),
      unknown: await failure(http.query("notes:nope", {})),
      badArgs: await failure(http.mutation("notes:add", { list: 3 })),
      wrongKind: await failure(http.query("notes:add", { list, text: "x" })),
    },
  });
});
