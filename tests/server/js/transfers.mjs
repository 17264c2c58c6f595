// Hot documents through the server:   node transfers.mjs URL CLIENTS PER_CLIENT ws|http
// CLIENTS official clients (each ConvexClient its own WebSocket session, or each ConvexHttpClient its
// own HTTP requests) make PER_CLIENT transfers each, all at once, between the same two accounts.
// Reports every failure (none are expected: the server's runner falls back to a serialized attempt).
import { ConvexClient, ConvexHttpClient } from "convex/browser";
import { describeError, emit, main, within } from "./util.mjs";

const [url, clientsArg, perArg, mode] = process.argv.slice(2);
const clients = Number(clientsArg);
const perClient = Number(perArg);

main(async () => {
  const setup = new ConvexHttpClient(url);
  const a = await setup.mutation("bank:open_account", { name: "a", balance: 1000 });
  const b = await setup.mutation("bank:open_account", { name: "b", balance: 1000 });
  const made = Array.from({ length: clients }, () => (mode === "ws" ? new ConvexClient(url) : new ConvexHttpClient(url)));
  const failures = [];
  let ok = 0;
  await within(Promise.all(made.map(async (c, i) => {
    for (let k = 0; k < perClient; k++) {
      const [from, to] = (i + k) % 2 ? [a, b] : [b, a];
      try {
        await c.mutation("bank:transfer", { from, to, amount: 1 });
        ok += 1;
      } catch (err) {
        failures.push(describeError(err));
      }
    }
  })), 120000, "all transfers");
  const balances = await setup.query("bank:balances", { ids: [a, b] });
  for (const c of made) if (mode === "ws") await c.close();
  emit("result", { ok, failures, balances });
});
