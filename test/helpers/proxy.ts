import { createServer as createNetServer, connect as netConnect, type Server, type Socket } from 'node:net';
import { createServer as createTlsServer, type TlsOptions } from 'node:tls';
import { afterAll } from 'vitest';
import { brokerUrl } from './broker.js';

// A loopback TCP (or TLS-terminating) proxy in front of the test broker, so a test can make the
// broker appear late, cut live connections, or speak amqps:// without reconfiguring RabbitMQ.
export interface Proxy {
  port: number;
  /** Destroy every live connection through the proxy (the client sees the connection drop). */
  cutAll(): void;
  close(): Promise<void>;
  connections(): number;
  /** Hold back everything the broker sends (confirms, deliveries) until resume(); the client sees a stalled broker. */
  pause(): void;
  resume(): void;
  /** With `holdClientFrom`: has the client sent that method (everything from it on is held back)? */
  holding(): boolean;
  /** With `holdClientFrom`: send the broker what was held back, and pass everything on from now. */
  release(): void;
}

/** An AMQP method, by class and method id (basic.ack: 60, 80). */
export interface AmqpMethod {
  classId: number;
  methodId: number;
  /** Pass this many of it first (the hold starts at the next one). */
  skip?: number;
}

const open: Proxy[] = [];
afterAll(async () => {
  for (const p of open.splice(0)) await p.close();
});

/**
 * `holdClientFrom`: read the client's frames, and from the first frame that is this method on, send the
 * broker nothing more (until release()): the client believes it has sent (say) an ack that the broker never sees.
 */
export async function startProxy(opts: { port?: number; tls?: TlsOptions; holdClientFrom?: AmqpMethod } = {}): Promise<Proxy> {
  const target = new URL(brokerUrl());
  const sockets = new Set<Socket>();
  const upstreams = new Set<Socket>();
  let paused = false;
  let holding = false;
  const releases = new Set<() => void>();
  const onClient = (client: Socket) => {
    const upstream = netConnect({ host: target.hostname, port: Number(target.port || 5672) });
    sockets.add(client).add(upstream);
    upstreams.add(upstream);
    const end = () => {
      client.destroy();
      upstream.destroy();
      sockets.delete(client);
      sockets.delete(upstream);
      upstreams.delete(upstream);
    };
    client.on('error', end).on('close', end);
    upstream.on('error', end).on('close', end);
    if (opts.holdClientFrom) {
      const gate = frameGate(opts.holdClientFrom, upstream, () => (holding = true));
      client.on('data', gate.data);
      releases.add(gate.release);
    } else client.pipe(upstream);
    upstream.pipe(client);
    if (paused) upstream.pause();
  };
  const server: Server = opts.tls ? createTlsServer(opts.tls, onClient) : createNetServer(onClient);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port ?? 0, '127.0.0.1', () => resolve());
  });
  const address = server.address();
  const proxy: Proxy = {
    port: typeof address === 'object' && address ? address.port : 0,
    cutAll: () => {
      for (const s of sockets) s.destroy();
      sockets.clear();
    },
    close: () =>
      new Promise<void>((resolve) => {
        proxy.cutAll();
        server.close(() => resolve());
      }),
    connections: () => sockets.size / 2,
    pause: () => {
      paused = true;
      for (const u of upstreams) u.pause();
    },
    resume: () => {
      paused = false;
      for (const u of upstreams) u.resume();
    },
    holding: () => holding,
    release: () => {
      for (const release of releases) release();
    },
  };
  open.push(proxy);
  return proxy;
}

// Client bytes to the broker frame by frame (after the 8-byte protocol header), until `method`: that frame
// and all after it are held back until release(). An AMQP frame: type (1 = method), channel (2), size (4),
// payload, 0xCE; a method's payload starts with its class id (2) and method id (2).
function frameGate(method: AmqpMethod, upstream: Socket, onHold: () => void): { data: (chunk: Buffer) => void; release: () => void } {
  let pending = Buffer.alloc(0);
  let headerLeft = 8;
  let held = false;
  let released = false;
  let toSkip = method.skip ?? 0;
  const release = () => {
    released = true;
    if (pending.length > 0 && !upstream.destroyed) upstream.write(pending);
    pending = Buffer.alloc(0);
  };
  const data = (chunk: Buffer) => {
    if (released) return void (upstream.destroyed || upstream.write(chunk));
    pending = Buffer.concat([pending, chunk]);
    if (held) return;
    let pass = Math.min(headerLeft, pending.length);
    headerLeft -= pass;
    while (headerLeft === 0 && pending.length - pass >= 7) {
      const size = pending.readUInt32BE(pass + 3);
      if (pending.length - pass < 8 + size) break;
      if (pending[pass] === 1 && size >= 4 && pending.readUInt16BE(pass + 7) === method.classId && pending.readUInt16BE(pass + 9) === method.methodId && toSkip-- === 0) {
        held = true;
        onHold();
        break;
      }
      pass += 8 + size;
    }
    if (pass > 0) upstream.write(pending.subarray(0, pass));
    pending = pending.subarray(pass);
  };
  return { data, release };
}

/** A free loopback port, for a proxy that starts later. */
export async function freePort(): Promise<number> {
  const s = createNetServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', () => r()));
  const address = s.address();
  await new Promise<void>((r) => s.close(() => r()));
  return typeof address === 'object' && address ? address.port : 0;
}

/** The test broker's URL with another host:port and scheme. */
export function urlVia(port: number, scheme: 'amqp' | 'amqps' = 'amqp', host = '127.0.0.1'): string {
  const u = new URL(brokerUrl());
  return `${scheme}://${u.username}:${u.password}@${host}:${port}${u.pathname}`;
}
