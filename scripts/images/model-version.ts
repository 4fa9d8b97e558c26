// Prints the `model_version` an ONNX model records in its metadata_props: the version the
// service reports for it, read with the service's own reader, so the model image's label and
// the service can never disagree.
// Usage: node --import tsx scripts/images/model-version.ts model/offer_model.onnx
import { readFileSync } from 'node:fs';

import { MODEL_VERSION_KEY } from '../../src/scoring/model-session.js';
import { readModelMetadata } from '../../src/scoring/onnx-metadata.js';

const [file] = process.argv.slice(2);
if (file === undefined) {
  process.stderr.write('usage: model-version.ts MODEL.onnx\n');
  process.exit(2);
}
const version = readModelMetadata(readFileSync(file)).get(MODEL_VERSION_KEY);
if (version === undefined || version === '') {
  process.stderr.write(`${file} records no ${MODEL_VERSION_KEY} in its metadata\n`);
  process.exit(1);
}
process.stdout.write(`${version}\n`);
