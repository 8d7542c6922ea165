// SIP.js under Node.js over WS or WSS, driven by commands on stdin (see README.md): subscribes
// (SIP.js's Subscriber), PUBLISHes presence (its Publisher), and says on stdout what it got.

import { commands, fail, options, pidf, say } from "./common.mjs";

const { Core, Publisher, PublisherState, Subscriber, SubscriptionState, UserAgent } = await import("sip.js");

const o = options();
const aor = `sip:${o.user}@${o.domain}`;

const ua = new UserAgent({
  uri: UserAgent.makeURI(aor),
  // Every SIP message sent and received (traceSip), and SIP.js's log, on stderr.
  transportOptions: { server: o.server, traceSip: true },
  logBuiltinEnabled: false,
  logConfiguration: false,
  logLevel: "log",
  logConnector: (level, category, label, content) => process.stderr.write(`${level} ${category} ${content}\n`),
  delegate: {
    onDisconnect: (error) => {
      if (error) {
        fail(`the WebSocket closed: ${error.message}`);
      }
    },
  },
});

const subscribers = new Map();
// Events being unsubscribed from: their TERMINATED line waits for the final NOTIFY.
const unsubscribing = new Set();
let publisher = null;

/** Resolves when `emitter` reaches one of `states`; `what` names it in the error otherwise. */
function reaches(emitter, states, what) {
  return new Promise((resolve, reject) => {
    const listener = (state) => {
      if (states.includes(state)) {
        emitter.removeListener(listener);
        resolve(state);
      } else if (state === PublisherState.Terminated) {
        emitter.removeListener(listener);
        reject(new Error(`${what}: the publication ended (see the trace)`));
      }
    };
    emitter.addListener(listener);
  });
}

const started = ua.start().then(
  () => say("READY"),
  (e) => fail(`no connection to ${o.server}: ${e?.message ?? e}`),
);

commands(started, async (verb, words, rest) => {
  switch (verb) {
    case "subscribe": {
      const [event, user] = words;
      const target = UserAgent.makeURI(`sip:${user}@${o.domain}`);
      // No Accept: SIP.js sends none by itself, so the server must answer with the package's
      // default body type (RFC 6665 §7.2: PIDF for presence, dialog-info for dialog).
      const subscriber = new Subscriber(ua, target, event, { expires: 600 });
      subscriber.delegate = {
        onNotify: (notification) => {
          const request = notification.request;
          notification.accept();
          const state = request.getHeader("Subscription-State") ?? null;
          const contentType = request.getHeader("Content-Type") ?? null;
          say("NOTIFY", event, { state, contentType, body: request.body ?? "" });
        },
      };
      subscriber.stateChange.addListener((state) => {
        if (state === SubscriptionState.Terminated && !unsubscribing.has(event)) {
          say("TERMINATED", event, { code: state, reason: null });
        }
      });
      subscribers.set(event, subscriber);
      await subscriber.subscribe();
      break;
    }
    case "unsubscribe": {
      // SIP.js's Subscriber is Terminated as soon as it has sent the SUBSCRIBE with Expires: 0,
      // and hands the final NOTIFY to no delegate; its dialog, though, ends only with that NOTIFY
      // (no timer N runs for an unsubscribe), so that is what is waited for.
      const event = words[0];
      const subscriber = subscribers.get(event);
      const dialog = subscriber.dialog;
      unsubscribing.add(event);
      await subscriber.unsubscribe();
      while (dialog && dialog.subscriptionState !== Core.SubscriptionState.Terminated) {
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
      say("TERMINATED", event, { code: "FINAL_NOTIFY_RECEIVED", reason: null });
      break;
    }
    case "publish": {
      // A change while published (a modify) would need the 200 itself: SIP.js says nothing
      // unless the state changes. The flows publish once, then remove.
      if (!publisher) {
        publisher = new Publisher(ua, UserAgent.makeURI(aor), "presence", {
          contentType: "application/pidf+xml",
          expires: 600,
        });
      }
      const published = reaches(publisher.stateChange, [PublisherState.Published], "PUBLISH");
      await publisher.publish(pidf(aor, words[0], rest));
      await published;
      // pubRequestExpires (not in SIP.js's typings) is the Expires of the 200, once it came.
      say("PUBLISHED", { expires: publisher.pubRequestExpires });
      break;
    }
    case "unpublish": {
      const unpublished = reaches(publisher.stateChange, [PublisherState.Unpublished], "PUBLISH Expires: 0");
      await publisher.unpublish();
      await unpublished;
      // A refused removal passes through Unpublished too, straight on to Terminated.
      if (publisher.state === PublisherState.Terminated) {
        throw new Error("PUBLISH Expires: 0 was refused (see the trace)");
      }
      say("UNPUBLISHED");
      break;
    }
    case "quit": {
      // SIP.js 0.21.2's UserAgent.stop() never resolves while a subscription is active: it
      // unsubscribes and waits for the dialog's onTerminated, which the final NOTIFY does not
      // call (SubscriptionDialog.onNotify disposes the dialog without it). Unsubscribing first
      // ends the Subscriber at once, and stop() then has nothing to wait for.
      for (const subscriber of subscribers.values()) {
        if (subscriber.state !== SubscriptionState.Terminated) {
          await subscriber.unsubscribe();
        }
      }
      await ua.stop();
      say("BYE");
      setTimeout(() => process.exit(0), 200);
      break;
    }
    default:
      fail(`unknown command ${verb}`, 2);
  }
});
