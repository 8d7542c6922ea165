'use strict';
// Test harness: the real babble-presence binary (built by `cargo build`, or the one named by
// BABBLE_PRESENCE_BIN) on free loopback ports, and SIPp running the repository's scenarios.

const { spawn, spawnSync } = require('node:child_process');
const fs = require('node:fs');
const net = require('node:net');
const os = require('node:os');
const path = require('node:path');
const readline = require('node:readline');

const REPOSITORY = path.resolve(__dirname, '../../..');
const BINARY = process.env.BABBLE_PRESENCE_BIN || path.join(REPOSITORY, 'target/debug/babble-presence');

/** A port free on 127.0.0.1 for TCP and UDP just now. */
async function freePort() {
  for (;;) {
    const port = await new Promise((resolve, reject) => {
      const server = net.createServer();
      server.once('error', reject);
      server.listen(0, '127.0.0.1', () => {
        const { port } = server.address();
        server.close(() => resolve(port));
      });
    });
    const udp = require('node:dgram').createSocket('udp4');
    const free = await new Promise((resolve) => {
      udp.once('error', () => resolve(false));
      udp.bind(port, '127.0.0.1', () => udp.close(() => resolve(true)));
    });
    if (free) return port;
  }
}

/** The server, started on `sip` (UDP and TCP) and `http`, with its state in `dataDir`. */
class Server {
  constructor({ sip, http, dataDir }) {
    Object.assign(this, { sip, http, dataDir, url: `http://127.0.0.1:${http}` });
  }

  static async start() {
    if (!fs.existsSync(BINARY)) throw new Error(`no server binary at ${BINARY}: run cargo build first`);
    const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'babble-node-'));
    const server = new Server({ sip: await freePort(), http: await freePort(), dataDir });
    await server.run();
    return server;
  }

  /** Starts the process; resolves once it says it is ready. */
  run() {
    const args = ['--listen', `udp:127.0.0.1:${this.sip}`, '--listen', `tcp:127.0.0.1:${this.sip}`];
    args.push('--http', `127.0.0.1:${this.http}`, '--data-dir', this.dataDir, '--log-format', 'json');
    this.child = spawn(BINARY, args, { stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env, RUST_LOG: 'info' } });
    this.exited = new Promise((resolve) => this.child.once('exit', resolve));
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('the server did not get ready in 10 s')), 10000);
      const lines = readline.createInterface({ input: this.child.stderr });
      lines.on('line', (line) => {
        if (line.includes('"babble-presence ready"')) {
          clearTimeout(timer);
          resolve();
        }
      });
      this.child.once('exit', (code) => reject(new Error(`the server exited (${code}) before it was ready`)));
    });
  }

  /** SIGTERM, and waits for the exit. */
  async stop() {
    this.child.kill('SIGTERM');
    await this.exited;
  }

  async restart() {
    await this.stop();
    await this.run();
  }

  async remove() {
    if (this.child.exitCode === null) await this.stop();
    fs.rmSync(this.dataDir, { recursive: true, force: true });
  }
}

/** Whether SIPp is installed. */
function haveSipp() {
  return spawnSync('sipp', ['-v']).error === undefined;
}

/** Runs SIPp's `scenario` (in interop/sipp/) once against `port` over UDP; resolves on success. */
async function sipp(scenario, port) {
  const file = path.join(REPOSITORY, 'interop/sipp', scenario);
  const args = [`127.0.0.1:${port}`, '-sf', file, '-t', 'u1', '-m', '1', '-i', '127.0.0.1'];
  args.push('-p', String(await freePort()), '-timeout', '15s', '-timeout_error', '-nostdin');
  const child = spawn('sipp', args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout.on('data', (d) => (output += d));
  child.stderr.on('data', (d) => (output += d));
  const code = await new Promise((resolve) => child.once('exit', resolve));
  if (code !== 0) throw new Error(`SIPp ${scenario} failed (${code}):\n${output}`);
}

/** Resolves with the first `event` that `emitter` emits within `ms`. */
function once(emitter, event, ms = 10000) {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no ${event} within ${ms} ms`)), ms);
    emitter.once(event, (value) => {
      clearTimeout(timer);
      resolve(value);
    });
  });
}

module.exports = { Server, sipp, haveSipp, once };
