import { once } from 'node:events';
import { connect, createServer, type AddressInfo, type Server, type Socket } from 'node:net';

/**
 * A TCP proxy on loopback that the tests control: it forwards every connection to a target
 * and can delay each chunk of data in both directions, the way a congested or distant
 * network would. Chunks keep their order: a chunk leaves no earlier than `latencyMs` after it
 * arrived and never before the chunk ahead of it, so a long pipeline costs one latency, not
 * one per chunk, like a real link.
 */
export class TcpProxy {
  readonly #server: Server;
  readonly #sockets = new Set<Socket>();
  #latencyMs = 0;
  #chunks = 0;
  #held: (() => void)[] | undefined;

  private constructor(target: { host: string; port: number }) {
    this.#server = createServer((client) => {
      this.pipe(client, target);
    });
  }

  /**
   * Listens on `port` (a free one when 0): a Kafka listener advertised on a fixed port (the
   * infra's PROXIED listener) needs its proxy exactly there.
   */
  static async start(target: { host: string; port: number }, port = 0): Promise<TcpProxy> {
    const proxy = new TcpProxy(target);
    proxy.#server.listen(port, '127.0.0.1');
    await once(proxy.#server, 'listening');
    return proxy;
  }

  get port(): number {
    return (this.#server.address() as AddressInfo).port;
  }

  /** Chunks forwarded so far, both directions: shows that traffic really went through. */
  get chunks(): number {
    return this.#chunks;
  }

  get latencyMs(): number {
    return this.#latencyMs;
  }

  /** Applies to chunks that arrive from now on. */
  setLatency(ms: number): void {
    this.#latencyMs = ms;
  }

  /**
   * Holds every chunk, both directions, until `release()`: requests sent now get no answer
   * yet, like a peer that stalls. Connections stay open.
   */
  hold(): void {
    this.#held ??= [];
  }

  /** Forwards the held chunks, in order, and lets traffic through again. */
  release(): void {
    const held = this.#held ?? [];
    this.#held = undefined;
    for (const send of held) send();
  }

  /** `url` with its host and port replaced by the proxy's. */
  url(url: string): string {
    const parsed = new URL(url);
    parsed.hostname = '127.0.0.1';
    parsed.port = String(this.port);
    return parsed.toString().replace(/\/$/, '');
  }

  async close(): Promise<void> {
    for (const socket of this.#sockets) socket.destroy();
    this.#server.close();
    await once(this.#server, 'close');
  }

  private pipe(client: Socket, target: { host: string; port: number }): void {
    const upstream = connect(target.port, target.host);
    this.#sockets.add(client);
    this.#sockets.add(upstream);
    const close = (): void => {
      client.destroy();
      upstream.destroy();
      this.#sockets.delete(client);
      this.#sockets.delete(upstream);
    };
    client.on('error', close);
    upstream.on('error', close);
    client.on('close', close);
    upstream.on('close', close);
    this.forward(client, upstream);
    this.forward(upstream, client);
  }

  private forward(from: Socket, to: Socket): void {
    // The time the previous chunk of this direction left: keeps chunks in order.
    let lastRelease = 0;
    from.on('data', (chunk: Buffer) => {
      this.#chunks += 1;
      if (this.#held !== undefined) {
        this.#held.push(() => {
          if (!to.destroyed) to.write(chunk);
        });
        return;
      }
      const release = Math.max(Date.now() + this.#latencyMs, lastRelease);
      lastRelease = release;
      const delay = release - Date.now();
      if (delay <= 0) {
        to.write(chunk);
        return;
      }
      setTimeout(() => {
        if (!to.destroyed) to.write(chunk);
      }, delay);
    });
    from.on('end', () => {
      const delay = Math.max(0, lastRelease - Date.now());
      setTimeout(() => {
        if (!to.destroyed) to.end();
      }, delay);
    });
  }
}
