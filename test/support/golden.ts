import { readFile } from 'node:fs/promises';

import type { Registration } from '../../src/contract/registration.js';
import type { Predictions } from '../../src/scoring/predictions.js';
import { GOLDEN_PATH, MODEL_PATH } from '../../tools/dev/paths.js';

export { GOLDEN_PATH, MODEL_PATH };

/** A registration as model/golden.json stores it: the raw field names of the messages. */
export interface GoldenInput {
  user_id: number;
  ip_country: string | null;
  device_country: string | null;
  device_language: string | null;
  platform: string | null;
  platform_store: string | null;
  smartphone_brand: string | null;
  child_smartphone_brand: string | null;
  is_organic: number | null;
  child_age: number | null;
}

export interface GoldenFixture {
  input: GoldenInput;
  expected: Predictions;
}

export interface GoldenFile {
  model_version: string;
  tolerance: number;
  fixtures: GoldenFixture[];
}

export async function readGoldenFile(): Promise<GoldenFile> {
  return JSON.parse(await readFile(GOLDEN_PATH, 'utf8')) as GoldenFile;
}

export function toRegistration(input: GoldenInput): Registration {
  return {
    userId: input.user_id,
    ipCountry: input.ip_country,
    deviceCountry: input.device_country,
    deviceLanguage: input.device_language,
    platform: input.platform,
    platformStore: input.platform_store,
    smartphoneBrand: input.smartphone_brand,
    childSmartphoneBrand: input.child_smartphone_brand,
    isOrganic: input.is_organic,
    childAge: input.child_age,
  };
}
