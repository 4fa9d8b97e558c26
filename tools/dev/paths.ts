import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * Places in the repository that the tools and the tests use. Compiled (the load test's image),
 * the same relative places under the output folder.
 */

/** The repository's root folder, with a trailing separator. */
export const REPO_ROOT = fileURLToPath(new URL('../..', import.meta.url));

/** The scripts that install, start and stop the local Kafka, Redis and ClickHouse. */
export const INFRA_SCRIPTS_DIR = join(REPO_ROOT, 'scripts', 'infra');

/** The ONNX model the service scores with, and the golden file of its expected predictions. */
export const MODEL_PATH = join(REPO_ROOT, 'model', 'offer_model.onnx');
export const GOLDEN_PATH = join(REPO_ROOT, 'model', 'golden.json');
