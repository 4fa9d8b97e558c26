// The build of Kafka's Java producer that foreign-producer.ts drives: ForeignProducer.java
// compiled once against the Kafka jars that scripts/infra/install.sh resolves, and the child
// process runner of javac and java.
import { spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { access, mkdir, readFile, rename, rm } from 'node:fs/promises';
import { join, resolve } from 'node:path';

import { parseEnvFile } from '../../tools/dev/local-env.js';
import { INFRA_SCRIPTS_DIR, REPO_ROOT } from '../../tools/dev/paths.js';

const SOURCE_DIR = join(REPO_ROOT, 'test', 'support', 'foreign-producer');
const SOURCE_FILE = join(SOURCE_DIR, 'ForeignProducer.java');
const LOG_CONFIG_FILE = join(SOURCE_DIR, 'log4j2.properties');
export const MAIN_CLASS = 'ForeignProducer';
const JAVA_RELEASE = '17';
const COMPILE_TIMEOUT_MS = 120_000;
const STDERR_TAIL_LINES = 40;
// Short-lived client JVM: small heap, no parallel GC threads, C1 only (faster start-up on a
// shared 2-core machine than tiered C2).
export const JVM_FLAGS = [
  '-Xms16m',
  '-Xmx256m',
  '-XX:+UseSerialGC',
  '-XX:TieredStopAtLevel=1',
  '-Djava.awt.headless=true',
  `-Dlog4j2.configurationFile=${LOG_CONFIG_FILE}`,
];

interface KafkaLibs {
  readonly version: string;
  readonly cacheDir: string;
  readonly libsDir: string;
  /** Contents of install.sh's completion marker (a fingerprint of what the jars came from). */
  readonly fingerprint: string;
}

/** Where scripts/infra/install.sh puts the jars: $INFRA_CACHE_DIR/kafka/<version>/libs. */
async function kafkaLibs(): Promise<KafkaLibs> {
  const versionsFile = join(INFRA_SCRIPTS_DIR, 'versions.env');
  const version = parseEnvFile(await readFile(versionsFile, 'utf8')).KAFKA_VERSION;
  if (version === undefined || version === '')
    throw new Error(`${versionsFile} has no KAFKA_VERSION`);
  const fromEnv = process.env.INFRA_CACHE_DIR;
  const cacheDir =
    fromEnv !== undefined && fromEnv !== '' ? resolve(fromEnv) : join(REPO_ROOT, '.cache');
  const home = join(cacheDir, 'kafka', version);
  let fingerprint: string;
  try {
    fingerprint = (await readFile(join(home, '.complete'), 'utf8')).trim();
  } catch {
    throw new Error(
      `Kafka ${version} jars are not in ${home}/libs: run scripts/infra/install.sh (make deps)`,
    );
  }
  return { version, cacheDir, libsDir: join(home, 'libs'), fingerprint };
}

export interface ProcessOutcome {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly stdout: string;
  readonly stderr: string;
  readonly timedOut: boolean;
}

export function runProcess(
  command: string,
  args: readonly string[],
  input: string,
  timeoutMs: number,
): Promise<ProcessOutcome> {
  return new Promise((resolvePromise, reject) => {
    const child = spawn(command, args, { stdio: ['pipe', 'pipe', 'pipe'] });
    const stdout: Buffer[] = [];
    const stderr: Buffer[] = [];
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL');
    }, timeoutMs);
    child.stdout.on('data', (chunk: Buffer) => stdout.push(chunk));
    child.stderr.on('data', (chunk: Buffer) => stderr.push(chunk));
    child.on('error', (error) => {
      clearTimeout(timer);
      reject(new Error(`cannot run ${command}: ${error.message}`, { cause: error }));
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolvePromise({
        code,
        signal,
        stdout: Buffer.concat(stdout).toString('utf8'),
        stderr: Buffer.concat(stderr).toString('utf8'),
        timedOut,
      });
    });
    // A JVM that dies early closes stdin under us; its exit status tells what happened.
    child.stdin.on('error', () => undefined);
    child.stdin.end(input);
  });
}

export function tail(text: string, lines = STDERR_TAIL_LINES): string {
  return text.trimEnd().split('\n').slice(-lines).join('\n');
}

export function describeExit(outcome: ProcessOutcome, timeoutMs: number): string {
  if (outcome.timedOut) return `timed out after ${timeoutMs} ms`;
  return outcome.signal !== null ? `killed by ${outcome.signal}` : `exit code ${outcome.code}`;
}

async function exists(path: string): Promise<boolean> {
  try {
    await access(path);
    return true;
  } catch {
    return false;
  }
}

export interface CompiledProducer {
  readonly classesDir: string;
  readonly libsDir: string;
  /** True when this call ran javac (false: the classes were cached). */
  readonly compiled: boolean;
}

let compiling: Promise<CompiledProducer> | undefined;

/**
 * Compiles ForeignProducer.java into <cache>/foreign-producer/<hash>/ unless it is there already.
 * The hash covers the source, the Kafka version and jars, and the target release. Test processes
 * may compile at the same time: each writes its own temporary dir and renames it into place; the
 * first rename wins and the others drop their copy.
 */
export function compileJavaProducer(): Promise<CompiledProducer> {
  compiling ??= compile().catch((error: unknown) => {
    compiling = undefined;
    throw error;
  });
  return compiling;
}

async function compile(): Promise<CompiledProducer> {
  const libs = await kafkaLibs();
  const source = await readFile(SOURCE_FILE);
  const hash = createHash('sha256')
    .update(source)
    .update(`\0kafka=${libs.version}\0jars=${libs.fingerprint}\0release=${JAVA_RELEASE}`)
    .digest('hex')
    .slice(0, 20);
  const cacheRoot = join(libs.cacheDir, 'foreign-producer');
  const classesDir = join(cacheRoot, hash);
  const mainClass = join(classesDir, `${MAIN_CLASS}.class`);
  if (await exists(mainClass)) return { classesDir, libsDir: libs.libsDir, compiled: false };

  await mkdir(cacheRoot, { recursive: true });
  const tmp = join(cacheRoot, `${hash}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`);
  try {
    const javac = await runProcess(
      'javac',
      [
        '--release',
        JAVA_RELEASE,
        '-Xlint:all,-options',
        '-encoding',
        'UTF-8',
        '-cp',
        join(libs.libsDir, '*'),
        '-d',
        tmp,
        SOURCE_FILE,
      ],
      '',
      COMPILE_TIMEOUT_MS,
    ).catch((error: unknown) => {
      throw new Error(
        `${error instanceof Error ? error.message : String(error)} (the foreign producer needs a JDK: apt-get install openjdk-17-jdk-headless)`,
      );
    });
    if (javac.code !== 0) {
      throw new Error(
        `javac ${SOURCE_FILE} failed (${describeExit(javac, COMPILE_TIMEOUT_MS)}):\n${tail(javac.stderr + javac.stdout)}`,
      );
    }
    try {
      await rename(tmp, classesDir);
    } catch (error) {
      // Another process renamed its copy first (the target exists and is not empty).
      if (!(await exists(mainClass))) throw error;
    }
  } finally {
    await rm(tmp, { recursive: true, force: true });
  }
  return { classesDir, libsDir: libs.libsDir, compiled: true };
}
