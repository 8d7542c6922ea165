// JsSIP under Node.js over WS or WSS, driven by commands on stdin (see README.md): subscribes
// (JsSIP's Subscriber), PUBLISHes presence, and says on stdout what it got.
//
// JsSIP 3.13 has no Publisher: PUBLISH goes out as JsSIP's own Message and Options do it, an
// OutgoingRequest given to a RequestSender (its transaction layer, over its transport), with
// SIP-ETag/SIP-If-Match handled here (RFC 3903).

import { commands, fail, options, pidf, say } from "./common.mjs";

const { default: JsSIP } = await import("jssip");
const { default: SIPMessage } = await import("jssip/lib/SIPMessage.js");
const { default: RequestSender } = await import("jssip/lib/RequestSender.js");
const { default: Subscriber } = await import("jssip/lib/Subscriber.js");

// Subscriber's termination codes by number, for the TERMINATED line.
const ENDINGS = Object.fromEntries(
  Object.entries(Subscriber.C).filter(([name]) => /^(UN)?SUBSCRIBE_|_RECEIVED$/.test(name)).map(([k, v]) => [v, k]),
);

const o = options();
// Every SIP message sent and received, and JsSIP's warnings and errors, on stderr.
JsSIP.debug.enable("JsSIP:Transport,JsSIP:WARN:*,JsSIP:ERROR:*");

const aor = `sip:${o.user}@${o.domain}`;
const ua = new JsSIP.UA({
  sockets: [new JsSIP.WebSocketInterface(o.server)],
  uri: aor,
  register: false,
});

// The Accept each event package is subscribed with (JsSIP's Subscriber requires one).
const ACCEPT = {
  presence: "application/pidf+xml",
  dialog: "application/dialog-info+xml",
};

const subscribers = new Map();
let etag = null;

/** Sends a PUBLISH of `body` (none: a removal) for our own AOR; resolves with the response. */
function publish(body, expires) {
  const headers = ["Event: presence", `Expires: ${expires}`];
  if (body) {
    headers.push("Content-Type: application/pidf+xml");
  }
  if (etag) {
    headers.push(`SIP-If-Match: ${etag}`);
  }
  const request = new SIPMessage.OutgoingRequest("PUBLISH", ua.normalizeTarget(aor), ua, null, headers, body);
  return new Promise((resolve, reject) => {
    const sender = new RequestSender(ua, request, {
      onRequestTimeout: () => reject(new Error("PUBLISH timed out")),
      onTransportError: () => reject(new Error("PUBLISH: transport error")),
      onReceiveResponse: (response) => {
        if (response.status_code >= 200) {
          resolve(response);
        }
      },
    });
    sender.send();
  });
}

function check(response, what) {
  if (response.status_code !== 200) {
    throw new Error(`${what}: ${response.status_code} ${response.reason_phrase}`);
  }
}

const connected = new Promise((resolve) => ua.once("connected", resolve));

commands(connected, async (verb, words, rest) => {
  switch (verb) {
    case "subscribe": {
      const [event, user] = words;
      const subscriber = ua.subscribe(`sip:${user}@${o.domain}`, event, ACCEPT[event], { expires: 600 });
      subscriber.on("notify", (isFinal, request, body, contentType) => {
        const state = request.getHeader("Subscription-State");
        say("NOTIFY", event, { state, contentType: contentType ?? null, body: body ?? "" });
      });
      subscriber.on("terminated", (code, reason) => {
        say("TERMINATED", event, { code: ENDINGS[code] ?? String(code), reason: reason ?? null });
      });
      subscribers.set(event, subscriber);
      subscriber.subscribe();
      break;
    }
    case "unsubscribe": {
      subscribers.get(words[0]).terminate();
      break;
    }
    case "publish": {
      const response = await publish(pidf(aor, words[0], rest), 600);
      check(response, "PUBLISH");
      etag = response.getHeader("SIP-ETag");
      if (!etag) {
        throw new Error("a 200 to PUBLISH without SIP-ETag");
      }
      say("PUBLISHED", { expires: Number(response.getHeader("Expires")) });
      break;
    }
    case "unpublish": {
      const response = await publish(undefined, 0);
      check(response, "PUBLISH Expires: 0");
      etag = null;
      say("UNPUBLISHED");
      break;
    }
    case "quit": {
      ua.stop();
      say("BYE");
      // Let the WebSocket close before leaving.
      setTimeout(() => process.exit(0), 200);
      break;
    }
    default:
      fail(`unknown command ${verb}`, 2);
  }
});

ua.on("connected", () => say("READY"));
ua.on("disconnected", (e) => {
  if (ua.status !== ua.C.STATUS_USER_CLOSED) {
    fail(`the WebSocket closed: ${e?.code ?? ""} ${e?.reason ?? ""}`.trim());
  }
});
ua.start();
