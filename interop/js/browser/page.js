// The page's script, bundled with JsSIP by esbuild into page.bundle.js (see README.md).
//
// A JsSIP user agent (no REGISTER) connects to the `server` WebSocket URL of the page's query
// string and, once connected, subscribes to `dialog` for `blf` (a BLF lamp) and to `presence`
// for `watch`, showing what each NOTIFY says. It can PUBLISH its own presence (`uri`) and
// withdraw it. Everything it knows is in `window.babble.state`, which the test reads over
// WebDriver, and the page's title sums it up; JsSIP's debug log (the SIP messages sent and
// received included) is kept in `state.log` so that a failing test can show the traffic.

'use strict';

const MAX_LOG = 600;
const state = {
  // starting, connecting, connected, disconnected
  connection: 'starting',
  connects: 0,
  disconnects: 0,
  server: null,
  blf: { notifies: 0, lamp: 'unknown', dialogs: [], version: null, via: null, subscriptionState: null, terminated: null },
  presence: {
    notifies: 0,
    basic: null,
    note: null,
    activities: [],
    dnd: false,
    via: null,
    subscriptionState: null,
    terminated: null,
  },
  // phase: none, publishing, published, removing, removed, failed
  publication: { phase: 'none', status: null, etag: null, expires: null, reason: null },
  errors: [],
  log: [],
};

function remember(line) {
  state.log.push(line);
  if (state.log.length > MAX_LOG) {
    state.log.splice(0, state.log.length - MAX_LOG);
  }
  const pre = document.getElementById('log');
  if (pre) {
    pre.textContent = state.log.slice(-60).join('\n');
  }
}

// JsSIP's loggers (the `debug` package) write to console.info/warn/error, which they bind when
// JsSIP's modules load: wrap those first, keeping each line as the console would print it
// (its %s and %o filled in, the %c styles `debug` adds in a browser dropped).
for (const level of ['info', 'warn', 'error']) {
  const original = console[level].bind(console);
  console[level] = (...args) => {
    remember(`${level}: ${consoleText(args)}`);
    original(...args);
  };
}

function consoleText(args) {
  const rest = args.slice(1);
  let text = typeof args[0] === 'string' ? args[0] : printable(args[0]);
  if (typeof args[0] === 'string') {
    text = text.replace(/%([sdifoOjc%])/g, (match, format) => {
      if (format === '%') {
        return '%';
      }
      if (rest.length === 0) {
        return match;
      }
      const value = rest.shift();
      return format === 'c' ? '' : printable(value);
    });
  }
  return [text, ...rest.map(printable)].join(' ');
}

function printable(value) {
  if (typeof value === 'string') {
    return value;
  }
  try {
    return JSON.stringify(value);
  } catch (e) {
    return String(value);
  }
}

window.addEventListener('error', (event) => {
  state.errors.push(`${event.message} (${event.filename}:${event.lineno})`);
});
window.addEventListener('unhandledrejection', (event) => {
  state.errors.push(`unhandled rejection: ${event.reason}`);
});

const JsSIP = require('jssip');
// JsSIP has no PUBLISH client of its own: the page builds one from the request and
// transaction classes its MESSAGE and OPTIONS clients use (headers, Via, digest retries).
const SIPMessage = require('jssip/lib/SIPMessage');
const RequestSender = require('jssip/lib/RequestSender');

JsSIP.debug.enable('JsSIP:*');

const params = new URLSearchParams(location.search);
const config = {
  server: params.get('server'),
  uri: params.get('uri') || 'sip:1003@127.0.0.1',
  blf: params.get('blf'),
  watch: params.get('watch'),
};

let ua = null;
const subscribers = {};

function show() {
  const text = (id, value) => {
    const element = document.getElementById(id);
    if (element) {
      element.textContent = value;
    }
  };
  const lamp = document.getElementById('lamp');
  if (lamp) {
    lamp.className = state.blf.lamp;
  }
  text('connection', `${state.connection} (${state.server})`);
  text('blf-target', config.blf || '');
  text('watch-target', config.watch || '');
  const dialogs = state.blf.dialogs.map((d) => `${d.id}: ${d.state}`).join(', ');
  text('blf', `${state.blf.lamp} after ${state.blf.notifies} NOTIFY${dialogs ? ` (${dialogs})` : ''}`);
  const p = state.presence;
  const presence = p.notifies === 0 ? 'no NOTIFY yet' : `${p.dnd ? 'DND' : p.basic}${p.note ? `: ${p.note}` : ''}`;
  text('presence', presence);
  const presenceElement = document.getElementById('presence');
  if (presenceElement) {
    presenceElement.className = p.dnd ? 'dnd' : '';
  }
  text('publication', `${state.publication.phase}${state.publication.status ? ` (${state.publication.status})` : ''}`);
  document.title = `lamp=${state.blf.lamp}; presence=${p.dnd ? 'dnd' : p.basic}${p.note ? ` "${p.note}"` : ''}; ${state.connection}`;
}

function xml(body) {
  const doc = new DOMParser().parseFromString(body || '', 'application/xml');
  if (doc.getElementsByTagName('parsererror').length > 0) {
    throw new Error(`unreadable XML: ${body}`);
  }
  return doc;
}

// The text of the first element named `local` (in any namespace) under `node`.
function first(node, local) {
  const found = node.getElementsByTagNameNS('*', local);
  return found.length > 0 ? found[0].textContent.trim() : null;
}

// RFC 4235 dialog-info: the dialogs and their states, and the lamp they light: `ringing`
// while a call is being set up, `busy` once one is answered, `idle` with none (or only
// terminated ones).
function readDialogInfo(body) {
  const doc = xml(body);
  const root = doc.documentElement;
  const dialogs = Array.from(root.getElementsByTagNameNS('*', 'dialog')).map((d) => ({
    id: d.getAttribute('id'),
    state: first(d, 'state'),
  }));
  const states = dialogs.map((d) => d.state);
  let lamp = 'idle';
  if (states.some((s) => ['trying', 'proceeding', 'early'].includes(s))) {
    lamp = 'ringing';
  } else if (states.includes('confirmed')) {
    lamp = 'busy';
  }
  return { version: root.getAttribute('version'), dialogs, lamp };
}

// RFC 3863 PIDF with RPID (RFC 4480): the basic status of the first tuple, the note (the
// person's, else a tuple's) and the activities; `busy` is how do-not-disturb is said.
function readPidf(body) {
  const doc = xml(body);
  const root = doc.documentElement;
  const person = root.getElementsByTagNameNS('urn:ietf:params:xml:ns:pidf:data-model', 'person')[0];
  const activities = [];
  if (person) {
    for (const list of person.getElementsByTagNameNS('urn:ietf:params:xml:ns:pidf:rpid', 'activities')) {
      for (const child of list.children) {
        activities.push(child.localName);
      }
    }
  }
  const personNote = person ? first(person, 'note') : null;
  return {
    basic: first(root, 'basic'),
    note: personNote || first(root, 'note'),
    activities,
    dnd: activities.includes('busy'),
  };
}

function subscribe(kind, target, event, accept, read) {
  const subscriber = ua.subscribe(target, event, accept, { expires: 600 });
  subscribers[kind] = subscriber;
  subscriber.on('notify', (isFinal, request, body) => {
    const view = state[kind];
    view.notifies += 1;
    view.via = request.getHeader('via');
    view.subscriptionState = request.getHeader('subscription-state');
    if (body) {
      try {
        Object.assign(view, read(body));
      } catch (e) {
        state.errors.push(`${kind} NOTIFY: ${e.message}`);
      }
    }
    show();
  });
  subscriber.on('terminated', (code, reason) => {
    state[kind].terminated = { code, reason: reason === undefined ? null : reason };
    show();
  });
  subscriber.subscribe();
}

function start() {
  state.server = config.server;
  if (!config.server) {
    state.errors.push('no server in the query string');
    show();
    return;
  }
  const socket = new JsSIP.WebSocketInterface(config.server);
  ua = new JsSIP.UA({ sockets: [socket], uri: config.uri, register: false });
  ua.on('connecting', () => {
    state.connection = 'connecting';
    show();
  });
  ua.on('connected', () => {
    state.connection = 'connected';
    state.connects += 1;
    if (state.connects === 1) {
      if (config.blf) {
        subscribe('blf', config.blf, 'dialog', 'application/dialog-info+xml', readDialogInfo);
      }
      if (config.watch) {
        subscribe('presence', config.watch, 'presence', 'application/pidf+xml', readPidf);
      }
    }
    show();
  });
  ua.on('disconnected', () => {
    state.connection = 'disconnected';
    state.disconnects += 1;
    show();
  });
  ua.start();
  show();
}

function escapeXml(text) {
  return text.replace(/[<>&"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

function pidf(note, busy) {
  const activities = busy ? '<rpid:activities><rpid:busy/></rpid:activities>' : '';
  return (
    '<?xml version="1.0" encoding="UTF-8"?>\r\n' +
    '<presence xmlns="urn:ietf:params:xml:ns:pidf" xmlns:dm="urn:ietf:params:xml:ns:pidf:data-model"' +
    ` xmlns:rpid="urn:ietf:params:xml:ns:pidf:rpid" entity="${escapeXml(config.uri)}">` +
    `<tuple id="web"><status><basic>open</basic></status><note>${escapeXml(note)}</note></tuple>` +
    `<dm:person id="me">${activities}<dm:note>${escapeXml(note)}</dm:note></dm:person>` +
    '</presence>'
  );
}

// Sends a PUBLISH for the page's own URI: with a body (`note`, `busy`) it publishes or, with
// an entity-tag known, modifies the publication; without one it removes it (Expires: 0,
// RFC 3903 §4.5). The outcome lands in state.publication.
function sendPublish(body) {
  const removing = body === null;
  const publication = state.publication;
  const headers = ['Event: presence', `Expires: ${removing ? 0 : 600}`];
  if (publication.etag) {
    headers.push(`SIP-If-Match: ${publication.etag}`);
  }
  if (!removing) {
    headers.push('Content-Type: application/pidf+xml');
  }
  const target = ua.normalizeTarget(config.uri);
  const request = new SIPMessage.OutgoingRequest('PUBLISH', target, ua, null, headers, removing ? undefined : body);
  publication.phase = removing ? 'removing' : 'publishing';
  publication.status = null;
  const failed = (reason) => {
    publication.phase = 'failed';
    publication.reason = reason;
    show();
  };
  const sender = new RequestSender(ua, request, {
    onRequestTimeout: () => failed('request timeout'),
    onTransportError: () => failed('transport error'),
    onReceiveResponse: (response) => {
      if (response.status_code < 200) {
        return;
      }
      publication.status = response.status_code;
      publication.reason = response.reason_phrase;
      if (response.status_code >= 300) {
        publication.phase = 'failed';
      } else if (removing) {
        publication.phase = 'removed';
        publication.etag = null;
        publication.expires = 0;
      } else {
        publication.phase = 'published';
        publication.etag = response.getHeader('sip-etag') || null;
        publication.expires = Number(response.getHeader('expires'));
      }
      show();
    },
  });
  sender.send();
  show();
}

window.babble = {
  state,
  publish: (note, busy) => sendPublish(pidf(note, busy)),
  unpublish: () => sendPublish(null),
  // Ends both subscriptions (SUBSCRIBE with Expires: 0); each ends with the final NOTIFY.
  unsubscribe: () => {
    for (const subscriber of Object.values(subscribers)) {
      subscriber.terminate();
    }
  },
  version: JsSIP.version,
};

if (document.readyState === 'loading') {
  document.addEventListener('DOMContentLoaded', start);
} else {
  start();
}
