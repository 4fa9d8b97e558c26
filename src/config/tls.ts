import { createPrivateKey, type KeyObject, X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';

import { z } from 'zod';

// TLS material of the three stores, one pattern for each: `<STORE>_TLS_CA_FILE` (the CA
// bundle that signed the server's certificate), `<STORE>_TLS_CERT_FILE` and
// `<STORE>_TLS_KEY_FILE` (a client certificate and its key, for mutual TLS), and
// `<STORE>_TLS_KEY_PASSWORD` when that key is encrypted. Every file is PEM, read once at
// start, so that a wrong path, a key that does not decrypt or a certificate that does not
// belong to its key stops start-up naming the variable instead of failing later as an opaque
// handshake error.

/** What the clients take: PEM text, the key as given (maybe encrypted) and its password. */
export interface TlsFiles {
  /** CA bundle that signed the server's certificate; the system's CAs when undefined. */
  readonly ca?: string;
  /** Client certificate (chain), for mutual TLS. */
  readonly cert?: string;
  /** The client certificate's private key, encrypted when `passphrase` is set. */
  readonly key?: string;
  readonly passphrase?: string;
}

type TlsPrefix = 'KAFKA' | 'CLICKHOUSE' | 'REDIS';

function readPem(path: string, ctx: z.RefinementCtx): string | undefined {
  try {
    return readFileSync(path, 'utf8');
  } catch (error) {
    const reason = (error as NodeJS.ErrnoException).code ?? (error as Error).message;
    ctx.addIssue({ code: 'custom', message: `cannot read the file (${reason})` });
    return undefined;
  }
}

/**
 * A PEM file named by a variable: its text, once it is readable and `isKind` accepts it;
 * otherwise an issue saying it `is not <what>`.
 */
const pemFile = (what: string, isKind: (pem: string) => boolean) => () =>
  z
    .string()
    .trim()
    .optional()
    .transform((path, ctx) => {
      if (path === undefined) return undefined;
      const pem = readPem(path, ctx);
      if (pem === undefined) return z.NEVER;
      if (!isKind(pem)) {
        ctx.addIssue({ code: 'custom', message: `is not ${what}` });
        return z.NEVER;
      }
      return pem;
    });

/** A file of CA certificates (PEM); its text. */
export const caFile = pemFile('a PEM file with CA certificates', (pem) =>
  pem.includes('-----BEGIN CERTIFICATE-----'),
);

/** A client certificate (PEM, the leaf first); its text, once it parses. */
export const certificateFile = pemFile('a PEM certificate', (pem) => {
  try {
    new X509Certificate(pem);
    return true;
  } catch {
    return false;
  }
});

/** A private key (PEM, maybe encrypted); its text. Whether it decrypts is checked with its password. */
export const keyFile = pemFile('a PEM private key', (pem) =>
  /-----BEGIN (RSA |EC |ENCRYPTED )?PRIVATE KEY-----/.test(pem),
);

/** The key's password: empty (as a chart renders an unset key) means none. */
export const keyPassword = () =>
  z
    .string()
    .optional()
    .transform((value) => (value === '' ? undefined : value));

interface TlsEnv {
  readonly ca?: string | undefined;
  readonly cert?: string | undefined;
  readonly key?: string | undefined;
  readonly password?: string | undefined;
}

/**
 * The cross-field rules of one store's TLS files: a certificate and its key come together,
 * a password only with a key; the key decrypts with the password (and needs one only when
 * encrypted), the certificate is the key's and is valid now. `enabled` says whether the
 * store's connection uses TLS at all; `howToEnable` names what turns it on.
 */
export function checkTlsFiles(
  prefix: TlsPrefix,
  env: TlsEnv,
  enabled: boolean,
  howToEnable: string,
  ctx: z.RefinementCtx,
): void {
  const names = {
    ca: `${prefix}_TLS_CA_FILE`,
    cert: `${prefix}_TLS_CERT_FILE`,
    key: `${prefix}_TLS_KEY_FILE`,
    password: `${prefix}_TLS_KEY_PASSWORD`,
  } as const;
  const issue = (name: string, message: string) => {
    ctx.addIssue({ code: 'custom', path: [name], message });
  };
  if (!enabled) {
    for (const field of ['ca', 'cert', 'key', 'password'] as const) {
      if (env[field] !== undefined) issue(names[field], `needs ${howToEnable}`);
    }
    return;
  }
  if (env.cert !== undefined && env.key === undefined) {
    issue(names.key, `is required with ${names.cert} (the certificate's private key)`);
  }
  if (env.key !== undefined && env.cert === undefined) {
    issue(names.cert, `is required with ${names.key} (the key's certificate)`);
  }
  if (env.password !== undefined && env.key === undefined) {
    issue(names.password, `needs ${names.key}`);
  }
  if (env.key === undefined) return;
  let privateKey: KeyObject;
  try {
    privateKey = createPrivateKey({
      key: env.key,
      ...(env.password === undefined ? {} : { passphrase: env.password }),
    });
  } catch {
    issue(
      names.key,
      env.password === undefined
        ? `cannot be read: it is encrypted (set ${names.password}) or damaged`
        : `cannot be decrypted with ${names.password}: wrong password, or a damaged key`,
    );
    return;
  }
  if (env.cert === undefined) return;
  const certificate = new X509Certificate(env.cert);
  if (!certificate.checkPrivateKey(privateKey)) {
    issue(names.cert, `is not the certificate of ${names.key} (their public keys differ)`);
    return;
  }
  const now = Date.now();
  if (Date.parse(certificate.validTo) < now) {
    issue(names.cert, `expired on ${new Date(certificate.validTo).toISOString()}`);
  } else if (Date.parse(certificate.validFrom) > now) {
    issue(names.cert, `is not valid before ${new Date(certificate.validFrom).toISOString()}`);
  }
}

/** The clients' TLS options from one store's parsed files; undefined when none is set. */
export function tlsFiles(env: TlsEnv): TlsFiles | undefined {
  const { ca, cert, key, password } = env;
  if (ca === undefined && cert === undefined && key === undefined) return undefined;
  return Object.freeze({
    ...(ca === undefined ? {} : { ca }),
    ...(cert === undefined ? {} : { cert }),
    ...(key === undefined ? {} : { key }),
    ...(password === undefined ? {} : { passphrase: password }),
  });
}
