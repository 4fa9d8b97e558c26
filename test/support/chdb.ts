import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { createClient, type ClickHouseClient } from '@clickhouse/client';
import { createChdbConnection } from 'chdb/connection';

import { rowText } from '../../src/sinks/clickhouse-client.js';

type ClientConnection = NonNullable<Parameters<typeof createClient>[0]>['connection'];

/**
 * A @clickhouse/client backed by chDB (current ClickHouse, in-process) on a temporary
 * directory. chdb builds against @clickhouse/client-common, which @clickhouse/client
 * bundles under its own copy of the same types, hence the one cast.
 */
export function createChdbClient(): { client: ClickHouseClient; close: () => Promise<void> } {
  const dir = mkdtempSync(join(tmpdir(), 'offers-chdb-'));
  const connection = createChdbConnection({ path: dir }) as unknown as ClientConnection;
  // As the service's client: serialised rows (StoredOffer.json) are inserted as they are.
  const client = createClient({ connection, json: { parse: JSON.parse, stringify: rowText } });
  return {
    client,
    close: async () => {
      await client.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
