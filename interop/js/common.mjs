// What jssip.mjs and sipjs.mjs share: the command line, the line protocol on stdin and stdout,
// the hard timeout, the PIDF document a client publishes, and `ws` as the global WebSocket.
//
// stdout carries only the protocol's lines (see README.md); everything else, the stacks' own
// logs and SIP traces included, goes to stderr. Import this module before the stack: it points
// console.* at stderr first, as JsSIP binds console.info when its modules load.

import { format } from "node:util";
import { createInterface } from "node:readline";
import WebSocket from "ws";

for (const name of ["log", "info", "warn", "error", "debug", "trace"]) {
  console[name] = (...args) => process.stderr.write(format(...args) + "\n");
}

// Node.js 20 has no WebSocket of its own; both stacks look for the browser's global one. This
// one also says on stderr why a connection failed (a certificate not trusted, say), which
// SIP.js does not.
globalThis.WebSocket = class extends WebSocket {
  constructor(...args) {
    super(...args);
    this.on("error", (e) => process.stderr.write(`WebSocket error: ${e.message}\n`));
  }
};

/** One protocol line on stdout: words, then an optional JSON value. */
export function say(...parts) {
  const text = parts.map((p) => (typeof p === "string" ? p : JSON.stringify(p))).join(" ");
  process.stdout.write(text + "\n");
}

/** Says why on stderr and exits with `code`. */
export function fail(why, code = 1) {
  process.stderr.write(`FAIL ${why}\n`);
  process.exit(code);
}

/**
 * `--server URL --user NAME [--domain HOST] [--timeout SECONDS]`. The timeout is a guard: the
 * script fails when it runs longer, so that a client that hangs cannot hang the test.
 */
export function options(argv = process.argv.slice(2)) {
  const o = { server: null, user: null, domain: "127.0.0.1", timeout: 30 };
  for (let i = 0; i < argv.length; i += 2) {
    const key = argv[i].replace(/^--/, "");
    if (!(key in o) || argv[i + 1] === undefined) {
      fail(`usage: --server ws[s]://HOST:PORT --user NAME [--domain HOST] [--timeout SECONDS]; got ${argv[i]}`, 2);
    }
    o[key] = key === "timeout" ? Number(argv[i + 1]) : argv[i + 1];
  }
  if (!o.server || !o.user) {
    fail("--server and --user are required", 2);
  }
  const timer = setTimeout(() => fail(`still running after ${o.timeout} s`, 3), o.timeout * 1000);
  timer.unref();
  return o;
}

function xmlEscape(text) {
  return text.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;");
}

/** A PIDF document (RFC 3863) for `entity` with `basic` (open/closed) and `note`. */
export function pidf(entity, basic, note) {
  return (
    '<?xml version="1.0" encoding="UTF-8"?>\n' +
    `<presence xmlns="urn:ietf:params:xml:ns:pidf" entity="${xmlEscape(entity)}">` +
    `<tuple id="js"><status><basic>${basic}</basic></status>` +
    `<note>${xmlEscape(note)}</note></tuple></presence>`
  );
}

/**
 * Reads commands from stdin, one a line, once `ready` has resolved: `handler(verb, words,
 * rest)`, where `rest` is the line after the first two words (a note may have spaces).
 * Commands run one after the other: a command's promise settles before the next one runs. The
 * end of stdin is `quit`, unless a `quit` came already.
 */
export function commands(ready, handler) {
  const lines = createInterface({ input: process.stdin, terminal: false });
  let chain = ready;
  let quitting = false;
  const run = (line) => {
    const words = line.trim().split(/\s+/);
    if (words[0] === "quit") {
      if (quitting) {
        return;
      }
      quitting = true;
    }
    const rest = words.slice(2).join(" ");
    chain = chain.then(() => handler(words[0], words.slice(1), rest)).catch((e) => fail(`${line}: ${e?.stack ?? e}`));
  };
  lines.on("line", (line) => line.trim() && run(line));
  lines.on("close", () => run("quit"));
}
