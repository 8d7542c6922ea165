'use strict';
// The client against the real server, with SIPp as the phone: the original's handlers,
// written as its README shows them, run unchanged on the client's `em`.

const assert = require('node:assert/strict');
const { after, before, describe, test } = require('node:test');

const { connect, PresenceError } = require('..');
const { Server, haveSipp, once, sipp } = require('./harness');

const required = process.env.BABBLE_REQUIRE_INTEROP === '1';
const skip = !haveSipp() && !required && 'needs SIPp: apt-get install sip-tester';

describe('babble-presence-client', { skip }, () => {
  let server;
  let em;

  before(async () => {
    server = await Server.start();
    em = connect({ url: server.url });
    await em.ready;
  });

  after(async () => {
    em.close();
    await server.remove();
  });

  test('an MWI subscriber is answered by a handler written for the original', async () => {
    // As the original's README has it: presence.voicemail.in answered with
    // presence.voicemail.out, in its field names (newcount, oldcount) and reason "init".
    const handler = (v) => {
      em.emit('presence.voicemail.out', {
        entity: v.entity,
        newcount: 2,
        oldcount: 5,
        newurgent: 0,
        oldurgent: 1,
        reason: 'init',
      });
    };
    em.on('presence.voicemail.in', handler);
    const asked = once(em, 'presence.voicemail.in');
    // subscribe_mwi.xml fails unless a NOTIFY carries "Voice-Message: 2/5 (0/1)".
    const phone = sipp('subscribe_mwi.xml', server.sip);
    const v = await asked;
    assert.equal(v.contenttype, 'application/simple-message-summary');
    assert.equal(v.entity, '1001@127.0.0.1');
    await phone;
    em.off('presence.voicemail.in', handler);
  });

  test("a BLF watcher gets a call sent in the original's update/all form", async () => {
    const handler = (s) => {
      if (s.contenttype !== 'application/dialog-info+xml') return;
      const call = {
        hasmedia: false,
        direction: 'recipient',
        statestr: 'early',
        startat: Date.now(),
        answeredat: 0,
        endat: 0,
        duration: 0,
        sip: { callid: 'node-call-1' },
        remote: { display: 'Kermit Frog', uri: 'sip:2000@127.0.0.1' },
      };
      em.emit('presence.dialog.out', { entity: s.entity, display: 'Miss Piggy', update: call, all: new Set([call]) });
    };
    em.on('presence.subscribe.in', handler);
    // subscribe_dialog.xml fails unless a second NOTIFY (version 1) shows the call early.
    await sipp('subscribe_dialog.xml', server.sip);
    em.off('presence.subscribe.in', handler);
    const entity = await (await fetch(`${server.url}/api/v1/entities/1001@127.0.0.1`)).json();
    assert.equal(entity.calls[0].callid, 'node-call-1');
    assert.equal(entity.calls[0].remote, 'sip:2000@127.0.0.1');
  });

  test('a refused payload is an error naming the field', async () => {
    const error = once(em, 'error');
    em.emit('presence.voicemail.out', { entity: '1001@127.0.0.1', neww: 7 });
    const refused = await error;
    assert.ok(refused instanceof PresenceError);
    assert.equal(refused.status, 422);
    assert.equal(refused.field, 'data.neww');
    await assert.rejects(em.send('presence.status.out', { entity: '1001@127.0.0.1', staus: 'closed' }), {
      name: 'PresenceError',
      field: 'data.staus',
    });
  });

  test('the client reconnects when the server restarts, and says it may have missed events', async () => {
    const dropped = once(em, 'disconnected');
    const resync = once(em, 'resync');
    const back = once(em, 'reconnected');
    await server.restart();
    await dropped;
    await back;
    assert.match((await resync).reason, /restarted/);
    // The handlers still run: a new MWI subscriber is answered as before.
    const handler = (v) => em.emit('presence.voicemail.out', { entity: v.entity, newcount: 2, oldcount: 5, oldurgent: 1 });
    em.on('presence.voicemail.in', handler);
    // The counts stored before the restart are 2/5 (0/1) already: push others first, so the
    // scenario's second NOTIFY comes from this handler's answer.
    await em.send('presence.voicemail.out', { entity: '1001@127.0.0.1', new: 0, old: 0 });
    await sipp('subscribe_mwi.xml', server.sip);
    em.off('presence.voicemail.in', handler);
  });
});
