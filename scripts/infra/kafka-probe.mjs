// Readiness probe of a local Kafka node in plain Kafka wire protocol: node only, no npm
// packages, because scripts/infra runs before `npm install` (install.sh, a fresh clone).
//   node scripts/infra/kafka-probe.mjs HOST:PORT [timeoutMs] [nodeId]
// Exit 0 (and the cluster id, controller id and brokers as JSON on stdout) when the broker
// answers ApiVersions, then a Metadata request listing at least one broker (with nodeId: that
// node, i.e. the probed node has registered, or re-registered after a restart, and is not
// fenced) and a controller id, then FindCoordinator for a consumer group and InitProducerId
// without error. The last two warm the broker up: it creates __consumer_offsets and fetches its
// first block of producer ids, so a test's first consumer group / idempotent producer does not
// get (and log) COORDINATOR_NOT_AVAILABLE / COORDINATOR_LOAD_IN_PROGRESS.
// Exit 1 otherwise (connection refused, timeout, no broker registered yet, coordinator loading),
// 2 on bad arguments.
// Node's globals are imported: eslint knows no globals in the repo's JS files (no-undef).
import { Buffer } from 'node:buffer';
import console from 'node:console';
import net from 'node:net';
import process from 'node:process';
import { clearTimeout, setTimeout } from 'node:timers';

/** @typedef {{ min: number, max: number }} VersionRange */
/** @typedef {{ clusterId: string | null, controllerId: number, brokers: string[] }} ClusterInfo */

const [target = '', timeoutArg = '2000', nodeArg = ''] = process.argv.slice(2);
const sep = target.lastIndexOf(':');
const host = target.slice(0, sep);
const port = Number(target.slice(sep + 1));
const timeoutMs = Number(timeoutArg);
if (sep <= 0 || !Number.isInteger(port)) {
  console.error('usage: kafka-probe.mjs HOST:PORT [timeoutMs] [nodeId]');
  process.exit(2);
}

const API_METADATA = 3;
const API_FIND_COORDINATOR = 10;
const API_INIT_PRODUCER_ID = 22;
const API_VERSIONS = 18;
const CLIENT_ID = Buffer.from('infra-ready');

/**
 * A size-prefixed request with a v1 header (api key, version, correlation id, client id).
 * @param {number} apiKey
 * @param {number} apiVersion
 * @param {number} correlationId
 * @param {Buffer} body
 * @returns {Buffer}
 */
function request(apiKey, apiVersion, correlationId, body) {
  const header = Buffer.alloc(10);
  header.writeInt16BE(apiKey, 0);
  header.writeInt16BE(apiVersion, 2);
  header.writeInt32BE(correlationId, 4);
  header.writeInt16BE(CLIENT_ID.length, 8);
  const payload = Buffer.concat([header, CLIENT_ID, body]);
  const size = Buffer.alloc(4);
  size.writeInt32BE(payload.length, 0);
  return Buffer.concat([size, payload]);
}

/** Reads the big-endian fields of one response, front to back. */
class Reader {
  /** @param {Buffer} buf */
  constructor(buf) {
    this.buf = buf;
    this.pos = 0;
  }
  int8() {
    const v = this.buf.readInt8(this.pos);
    this.pos += 1;
    return v;
  }
  int16() {
    const v = this.buf.readInt16BE(this.pos);
    this.pos += 2;
    return v;
  }
  int32() {
    const v = this.buf.readInt32BE(this.pos);
    this.pos += 4;
    return v;
  }
  /** @returns {string | null} */
  string() {
    const len = this.int16();
    if (len < 0) return null;
    const v = this.buf.toString('utf8', this.pos, this.pos + len);
    this.pos += len;
    return v;
  }
}

/** @returns {Promise<ClusterInfo>} */
function probe() {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host, port });
    let pending = Buffer.alloc(0);
    let step = 0;
    let metadataVersion = 0;
    /** @type {VersionRange | null} */
    let coordinatorRange = null;
    let coordinatorVersion = 0;
    /** @type {VersionRange | null} */
    let producerIdRange = null;
    /** @type {ClusterInfo | null} */
    let info = null;
    const timer = setTimeout(() => {
      fail(new Error(`timeout after ${timeoutMs}ms`));
    }, timeoutMs);
    /** @param {Error} err */
    function fail(err) {
      clearTimeout(timer);
      socket.destroy();
      reject(err);
    }
    /** @param {ClusterInfo} value */
    function done(value) {
      clearTimeout(timer);
      socket.destroy();
      resolve(value);
    }
    socket.on('error', fail);
    socket.on('close', () => {
      fail(new Error('connection closed'));
    });
    socket.on('connect', () => socket.write(request(API_VERSIONS, 0, 1, Buffer.alloc(0))));
    socket.on('data', (/** @type {Buffer} */ chunk) => {
      pending = Buffer.concat([pending, chunk]);
      while (pending.length >= 4 && pending.length >= 4 + pending.readInt32BE(0)) {
        const frame = pending.subarray(4, 4 + pending.readInt32BE(0));
        pending = pending.subarray(4 + frame.length);
        try {
          handle(new Reader(frame));
        } catch (err) {
          fail(err instanceof Error ? err : new Error(String(err)));
        }
      }
    });
    /** @param {Reader} r */
    function handle(r) {
      r.int32(); // correlation id
      if (step === 0) handleApiVersions(r);
      else if (step === 1) handleMetadata(r);
      else if (step === 2) handleCoordinator(r);
      else handleProducerId(r);
    }
    /** @param {Reader} r */
    function handleApiVersions(r) {
      const errorCode = r.int16();
      if (errorCode !== 0) throw new Error(`ApiVersions error ${errorCode}`);
      const n = r.int32();
      /** @type {VersionRange | null} */
      let range = null;
      for (let i = 0; i < n; i++) {
        const key = r.int16();
        const min = r.int16();
        const max = r.int16();
        if (key === API_METADATA) range = { min, max };
        if (key === API_FIND_COORDINATOR) coordinatorRange = { min, max };
        if (key === API_INIT_PRODUCER_ID) producerIdRange = { min, max };
      }
      if (!range) throw new Error('broker does not list the Metadata API');
      // Use the lowest supported version in 4..8 (non-flexible encoding, same leading layout).
      metadataVersion = Math.max(4, range.min);
      if (metadataVersion > Math.min(8, range.max)) {
        throw new Error(`unsupported Metadata versions ${range.min}..${range.max}`);
      }
      const body = Buffer.alloc(metadataVersion >= 8 ? 7 : 5);
      body.writeInt32BE(-1, 0); // all topics
      body.writeInt8(0, 4); // allow_auto_topic_creation = false (v8+: two more false flags)
      socket.write(request(API_METADATA, metadataVersion, 2, body));
      step = 1;
    }
    /** @param {Reader} r */
    function handleMetadata(r) {
      r.int32(); // throttle_time_ms (v3+)
      /** @type {string[]} */
      const brokers = [];
      const nBrokers = r.int32();
      for (let i = 0; i < nBrokers; i++) {
        const nodeId = r.int32();
        const brokerHost = String(r.string());
        const brokerPort = r.int32();
        r.string(); // rack
        brokers.push(`${nodeId}@${brokerHost}:${brokerPort}`);
      }
      const clusterId = r.string();
      const controllerId = r.int32();
      if (brokers.length === 0 || controllerId < 0) throw new Error('no broker registered yet');
      if (nodeArg !== '' && !brokers.some((b) => b.startsWith(`${nodeArg}@`))) {
        throw new Error(`node ${nodeArg} not among the brokers yet: ${brokers.join(' ')}`);
      }
      info = { clusterId, controllerId, brokers };
      // FindCoordinator v0..v2 (non-flexible): v0 body = group id; v1+ adds key_type (0 = group).
      if (!coordinatorRange || coordinatorRange.min > 2) {
        done(info);
        return;
      }
      coordinatorVersion = coordinatorRange.min;
      const group = Buffer.from('infra-ready');
      const body = Buffer.alloc(2 + group.length + (coordinatorVersion >= 1 ? 1 : 0));
      body.writeInt16BE(group.length, 0);
      group.copy(body, 2);
      socket.write(request(API_FIND_COORDINATOR, coordinatorVersion, 3, body));
      step = 2;
    }
    /** @param {Reader} r */
    function handleCoordinator(r) {
      if (coordinatorVersion >= 1) r.int32(); // throttle_time_ms
      const errorCode = r.int16();
      if (errorCode !== 0) {
        throw new Error(`group coordinator not available yet (error ${errorCode})`);
      }
      // InitProducerId v0 without transactional id, as an idempotent producer sends it: the
      // broker answers COORDINATOR_LOAD_IN_PROGRESS until it has its first producer id block.
      if (!producerIdRange || producerIdRange.min > 0) {
        finish();
        return;
      }
      const body = Buffer.alloc(6);
      body.writeInt16BE(-1, 0); // transactional_id = null
      body.writeInt32BE(60000, 2); // transaction_timeout_ms
      socket.write(request(API_INIT_PRODUCER_ID, 0, 4, body));
      step = 3;
    }
    /** @param {Reader} r */
    function handleProducerId(r) {
      r.int32(); // throttle_time_ms
      const errorCode = r.int16();
      if (errorCode !== 0) throw new Error(`producer ids not available yet (error ${errorCode})`);
      finish();
    }
    // The steps after Metadata resolve with what it returned.
    function finish() {
      if (!info) throw new Error('no Metadata answer before the coordinator steps');
      done(info);
    }
  });
}

try {
  const info = await probe();
  console.log(JSON.stringify(info));
  process.exit(0);
} catch (err) {
  console.error(
    `kafka not ready at ${target}: ${err instanceof Error ? err.message : String(err)}`,
  );
  process.exit(1);
}
