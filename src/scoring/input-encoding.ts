import { z } from 'zod';

import { CATEGORICAL_FIELDS, NUMERIC_FIELDS, type Registration } from '../contract/registration.js';
import type { InputCounts, ModelLayout } from './model-observation.js';
import { PREDICTION_NAMES, type PredictionName } from './predictions.js';

/** Key of the input encoding in the ONNX model's `metadata_props` (written by model/train.py). */
export const INPUT_ENCODING_KEY = 'input_encoding';
/**
 * Key of the number fields' training ranges in `metadata_props`: a JSON object
 * `{"<field>": {"min": <number>, "max": <number>}}`. Models trained before it have none.
 */
export const INPUT_RANGES_KEY = 'input_ranges';

/** The graph's input columns are named after the message fields they come from. */
const STRING_FIELDS = CATEGORICAL_FIELDS;
const NUMBER_FIELDS = NUMERIC_FIELDS;

export type StringColumn = keyof typeof STRING_FIELDS;
export type NumberColumn = keyof typeof NUMBER_FIELDS;
export type InputColumnName = StringColumn | NumberColumn;

export const INPUT_COLUMN_NAMES: readonly InputColumnName[] = [
  ...(Object.keys(STRING_FIELDS) as StringColumn[]),
  ...(Object.keys(NUMBER_FIELDS) as NumberColumn[]),
];

/** What the model file says about its input and output (see model/onnx_export.py). */
const encodingSchema = z.object({
  input: z.string().min(1),
  columns: z.array(z.string()).min(1),
  categories: z.record(z.string(), z.array(z.string())),
  missing_string: z.string(),
  missing_category: z.string(),
  unknown_code: z.number().int(),
  output: z.string().min(1),
  output_columns: z.array(z.string()).min(1),
});

export type EncodingMetadata = z.infer<typeof encodingSchema>;

const rangesSchema = z.record(
  z.string(),
  z.object({ min: z.number(), max: z.number() }).refine((range) => range.min <= range.max, {
    message: 'min is above max',
  }),
);

type Ranges = z.infer<typeof rangesSchema>;

/** The training ranges a model carries, none when it has no such key; a problem as a string. */
function parseRanges(text: string | undefined): Ranges | undefined | string {
  if (text === undefined) return undefined;
  try {
    return rangesSchema.parse(JSON.parse(text));
  } catch (error) {
    const detail = error instanceof z.ZodError ? z.prettifyError(error) : String(error);
    return `${INPUT_RANGES_KEY} is not valid: ${detail}`;
  }
}

type Column =
  | { readonly kind: 'string'; readonly field: keyof Registration; codes: Map<string, number> }
  | {
      readonly kind: 'number';
      readonly field: keyof Registration;
      /** Without a training range, every number is inside (±Infinity). */
      readonly min: number;
      readonly max: number;
    };

/**
 * Turns registrations into the model's one input: a float32 matrix, one row per
 * registration, one column per field. A string field becomes its category code (its position
 * in the vocabulary the model file carries); a missing string is looked up as the category
 * training filled in, a string training never saw is `unknown_code`. A missing number is NaN,
 * which the graph imputes. The vocabulary comes from the model itself, so the trainer and
 * this encoder cannot disagree on it.
 */
export class InputEncoding {
  /** Name of the graph's input tensor. */
  readonly input: string;
  /** Name of the graph's output tensor: [N, predictions.length] float32. */
  readonly output: string;
  /** Column of each prediction in the output, in the output's order. */
  readonly predictions: readonly PredictionName[];
  readonly width: number;
  /** What an observer of the model needs to name the counts and the outputs. */
  readonly layout: ModelLayout;
  readonly #columns: readonly Column[];
  readonly #missingCode: readonly number[];
  readonly #unknownCode: number;
  readonly #missingString: string;

  private constructor(metadata: EncodingMetadata, ranges: Ranges | undefined) {
    this.input = metadata.input;
    this.output = metadata.output;
    this.predictions = metadata.output_columns as PredictionName[];
    this.width = metadata.columns.length;
    this.#unknownCode = metadata.unknown_code;
    this.#missingString = metadata.missing_string;
    this.#columns = metadata.columns.map((column) => {
      if (column in STRING_FIELDS) {
        const vocabulary = metadata.categories[column] ?? [];
        return {
          kind: 'string' as const,
          field: STRING_FIELDS[column as StringColumn],
          codes: new Map(vocabulary.map((category, code) => [category, code])),
        };
      }
      const range = ranges?.[column];
      return {
        kind: 'number' as const,
        field: NUMBER_FIELDS[column as NumberColumn],
        min: range?.min ?? Number.NEGATIVE_INFINITY,
        max: range?.max ?? Number.POSITIVE_INFINITY,
      };
    });
    this.layout = {
      columns: metadata.columns as InputColumnName[],
      predictions: this.predictions,
    };
    this.#missingCode = this.#columns.map((column) =>
      column.kind === 'string'
        ? (column.codes.get(metadata.missing_category) ?? this.#unknownCode)
        : Number.NaN,
    );
  }

  /**
   * Reads and checks the encoding a model carries, and the training ranges if it has them;
   * the problems it finds are returned, not thrown, so the caller reports them together with
   * the graph's own.
   */
  static fromMetadata(text: string | undefined, rangesText?: string): InputEncoding | string {
    if (text === undefined) return `no ${INPUT_ENCODING_KEY} in its metadata_props`;
    let metadata: EncodingMetadata;
    try {
      metadata = encodingSchema.parse(JSON.parse(text));
    } catch (error) {
      const detail = error instanceof z.ZodError ? z.prettifyError(error) : String(error);
      return `${INPUT_ENCODING_KEY} is not valid: ${detail}`;
    }
    const problems: string[] = [];
    const ranges = parseRanges(rangesText);
    if (typeof ranges === 'string') problems.push(ranges);
    const missing = INPUT_COLUMN_NAMES.filter((name) => !metadata.columns.includes(name));
    if (missing.length > 0) problems.push(`input column(s) ${missing.join(', ')} missing`);
    const unexpected = metadata.columns.filter(
      (name) => !(INPUT_COLUMN_NAMES as readonly string[]).includes(name),
    );
    if (unexpected.length > 0) problems.push(`unexpected input column(s) ${unexpected.join(', ')}`);
    const noVocabulary = Object.keys(STRING_FIELDS).filter(
      (name) => metadata.categories[name] === undefined,
    );
    if (noVocabulary.length > 0) problems.push(`no categories for ${noVocabulary.join(', ')}`);
    const outputs = new Set(metadata.output_columns);
    const missingOutputs = PREDICTION_NAMES.filter((name) => !outputs.has(name));
    if (missingOutputs.length > 0) problems.push(`output(s) ${missingOutputs.join(', ')} missing`);
    if (metadata.output_columns.length !== PREDICTION_NAMES.length) {
      problems.push(`${metadata.output_columns.length} output columns, expected 8`);
    }
    return problems.length > 0 || typeof ranges === 'string'
      ? problems.join('; ')
      : new InputEncoding(metadata, ranges);
  }

  /**
   * Row-major [batch.length, width] matrix of the batch. With `counts`, also counts per
   * column the missing values, the strings outside the vocabulary and the numbers outside the
   * training range, in the same pass.
   */
  encode(batch: readonly Registration[], counts?: InputCounts): Float32Array {
    const width = this.width;
    const matrix = new Float32Array(batch.length * width);
    for (let column = 0; column < width; column += 1) {
      const spec = this.#columns[column];
      if (spec === undefined) continue;
      const missingCode = this.#missingCode[column] ?? Number.NaN;
      const [missing, odd] =
        spec.kind === 'string'
          ? this.#encodeStrings(batch, spec, matrix, column, missingCode)
          : encodeNumbers(batch, spec, matrix, column, width);
      if (counts === undefined) continue;
      counts.missing[column] = missing;
      if (spec.kind === 'string') counts.unseen[column] = odd;
      else counts.outOfRange[column] = odd;
    }
    return matrix;
  }

  /** Writes one string column; returns how many were missing and how many unseen. */
  #encodeStrings(
    batch: readonly Registration[],
    spec: Extract<Column, { kind: 'string' }>,
    matrix: Float32Array,
    column: number,
    missingCode: number,
  ): [number, number] {
    const width = this.width;
    let missing = 0;
    let unseen = 0;
    let at = column;
    for (const registration of batch) {
      const value = registration[spec.field] as string | null;
      if (value === null || value === this.#missingString) {
        matrix[at] = missingCode;
        missing += 1;
      } else {
        const code = spec.codes.get(value);
        if (code === undefined) unseen += 1;
        matrix[at] = code ?? this.#unknownCode;
      }
      at += width;
    }
    return [missing, unseen];
  }
}

/** Writes one number column (NaN when missing); returns how many were missing and outside the range. */
function encodeNumbers(
  batch: readonly Registration[],
  spec: Extract<Column, { kind: 'number' }>,
  matrix: Float32Array,
  column: number,
  width: number,
): [number, number] {
  let missing = 0;
  let outside = 0;
  let at = column;
  for (const registration of batch) {
    const value = registration[spec.field] as number | null;
    if (value === null) {
      matrix[at] = Number.NaN;
      missing += 1;
    } else {
      matrix[at] = value;
      if (value < spec.min || value > spec.max) outside += 1;
    }
    at += width;
  }
  return [missing, outside];
}
