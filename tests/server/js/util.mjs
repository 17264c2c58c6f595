// Helpers shared by the Node scenarios: JSON events on stdout, commands from stdin, polling.
import readline from "node:readline";

export function emit(event, fields = {}) {
  process.stdout.write(JSON.stringify({ event, ...fields }) + "\n");
}

// Poll `pred` until it returns a truthy value (returned); reject after `ms` naming `what`.
export function waitFor(pred, ms, what) {
  return new Promise((resolve, reject) => {
    const started = Date.now();
    const tick = () => {
      let value;
      try {
        value = pred();
      } catch (err) {
        reject(err);
        return;
      }
      if (value) resolve(value);
      else if (Date.now() - started > ms) reject(new Error(`timed out after ${ms} ms waiting for ${what}`));
      else setTimeout(tick, 10);
    };
    tick();
  });
}

// Reject if `promise` does not settle within `ms`.
export function within(promise, ms, what) {
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms: ${what}`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

// Lines from stdin, one at a time: `await nextCommand()`.
const lines = [];
const waiting = [];
readline.createInterface({ input: process.stdin }).on("line", (line) => {
  const w = waiting.shift();
  if (w) w(line.trim());
  else lines.push(line.trim());
});
export function nextCommand() {
  if (lines.length) return Promise.resolve(lines.shift());
  return new Promise((resolve) => waiting.push(resolve));
}

// Run the scenario; on failure print an "error" event (with the stack) and exit 1. Always exits, even
// if a client left timers running.
export function main(fn) {
  fn().then(
    () => process.exit(0),
    (err) => {
      emit("error", { message: String(err && err.message), stack: String(err && err.stack) });
      process.exit(1);
    },
  );
}

export function describeError(err) {
  return {
    name: err && err.name,
    constructor: err && err.constructor && err.constructor.name,
    message: String(err && err.message),
    data: err && err.data,
  };
}
