import { z } from 'zod';

import { CATEGORICAL_FIELDS, NUMERIC_FIELDS, type Registration } from '../contract/registration.js';
import { PREDICTION_NAMES, type PredictionName } from './predictions.js';

/** Key of the input encoding in the ONNX model's `metadata_props` (written by model/train.py). */
export const INPUT_ENCODING_KEY = 'input_encoding';

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
  readonly #columns: readonly (
    | { readonly kind: 'string'; readonly field: keyof Registration; codes: Map<string, number> }
    | { readonly kind: 'number'; readonly field: keyof Registration }
  )[];
  readonly #missingCode: readonly number[];
  readonly #unknownCode: number;
  readonly #missingString: string;

  private constructor(metadata: EncodingMetadata) {
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
      return { kind: 'number' as const, field: NUMBER_FIELDS[column as NumberColumn] };
    });
    this.#missingCode = this.#columns.map((column) =>
      column.kind === 'string'
        ? (column.codes.get(metadata.missing_category) ?? this.#unknownCode)
        : Number.NaN,
    );
  }

  /**
   * Reads and checks the encoding a model carries; the problems it finds are returned, not
   * thrown, so the caller reports them together with the graph's own.
   */
  static fromMetadata(text: string | undefined): InputEncoding | string {
    if (text === undefined) return `no ${INPUT_ENCODING_KEY} in its metadata_props`;
    let metadata: EncodingMetadata;
    try {
      metadata = encodingSchema.parse(JSON.parse(text));
    } catch (error) {
      const detail = error instanceof z.ZodError ? z.prettifyError(error) : String(error);
      return `${INPUT_ENCODING_KEY} is not valid: ${detail}`;
    }
    const problems: string[] = [];
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
    return problems.length > 0 ? problems.join('; ') : new InputEncoding(metadata);
  }

  /** Row-major [batch.length, width] matrix of the batch. */
  encode(batch: readonly Registration[]): Float32Array {
    const width = this.width;
    const matrix = new Float32Array(batch.length * width);
    for (let column = 0; column < width; column += 1) {
      const spec = this.#columns[column];
      if (spec === undefined) continue;
      const missing = this.#missingCode[column] ?? Number.NaN;
      let at = column;
      if (spec.kind === 'string') {
        for (const registration of batch) {
          const value = registration[spec.field] as string | null;
          matrix[at] =
            value === null || value === this.#missingString
              ? missing
              : (spec.codes.get(value) ?? this.#unknownCode);
          at += width;
        }
      } else {
        for (const registration of batch) {
          const value = registration[spec.field] as number | null;
          matrix[at] = value ?? missing;
          at += width;
        }
      }
    }
    return matrix;
  }
}
