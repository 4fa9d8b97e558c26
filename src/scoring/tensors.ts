import type { Registration } from '../contract/registration.js';

/**
 * How the model graph expects a missing value. The graph itself imputes these exactly as
 * training did, so the scorer only has to put them in the right place.
 */
export const MISSING_STRING = '';
export const MISSING_NUMBER = Number.NaN;

/** String inputs of the graph, each a [N, 1] string tensor, and the field each comes from. */
export const STRING_INPUTS = [
  ['ip_country', 'ipCountry'],
  ['device_country', 'deviceCountry'],
  ['device_language', 'deviceLanguage'],
  ['platform', 'platform'],
  ['platform_store', 'platformStore'],
  ['smartphone_brand', 'smartphoneBrand'],
  ['child_smartphone_brand', 'childSmartphoneBrand'],
] as const satisfies readonly (readonly [string, keyof Registration])[];

/** Number inputs of the graph, each a [N, 1] float32 tensor, and the field each comes from. */
export const NUMBER_INPUTS = [
  ['is_organic', 'isOrganic'],
  ['child_age', 'childAge'],
] as const satisfies readonly (readonly [string, keyof Registration])[];

export type StringInputName = (typeof STRING_INPUTS)[number][0];
export type NumberInputName = (typeof NUMBER_INPUTS)[number][0];
export type ModelInputName = StringInputName | NumberInputName;

export const MODEL_INPUT_NAMES: readonly ModelInputName[] = [
  ...STRING_INPUTS.map(([name]) => name),
  ...NUMBER_INPUTS.map(([name]) => name),
];

export type InputColumn =
  | { readonly type: 'string'; readonly data: string[]; readonly dims: readonly [number, 1] }
  | { readonly type: 'float32'; readonly data: Float32Array; readonly dims: readonly [number, 1] };

export type InputColumns = Readonly<Record<ModelInputName, InputColumn>>;

/**
 * One column per graph input, row i holding registration i. Nothing else happens here:
 * imputation, encoding and every other transformation live in the graph, so the Python
 * model and this scorer cannot drift apart.
 */
export function buildInputColumns(batch: readonly Registration[]): InputColumns {
  const rows = batch.length;
  const columns: Partial<Record<ModelInputName, InputColumn>> = {};
  for (const [name, field] of STRING_INPUTS) {
    const data = batch.map((registration) => registration[field] ?? MISSING_STRING);
    columns[name] = { type: 'string', data, dims: [rows, 1] };
  }
  for (const [name, field] of NUMBER_INPUTS) {
    const data = Float32Array.from(batch, (registration) => registration[field] ?? MISSING_NUMBER);
    columns[name] = { type: 'float32', data, dims: [rows, 1] };
  }
  return columns as InputColumns;
}
