import { pino } from 'pino';

import { errorMessage, isOfferError } from '../errors.js';
import { createLogger } from '../telemetry/logger.js';

/**
 * The JSON line a command ends with when it fails: `<what>: <error>`, with the error's code
 * and cause. On stderr, written synchronously: the process exits right after.
 */
export function logFatal(what: string, error: unknown): void {
  const fatal = createLogger('fatal', undefined, pino.destination({ dest: 2, sync: true }));
  fatal.fatal(
    {
      ...(isOfferError(error) ? { code: error.code } : {}),
      ...(error instanceof Error && error.cause !== undefined
        ? { cause: errorMessage(error.cause) }
        : {}),
    },
    `${what}: ${errorMessage(error)}`,
  );
}
