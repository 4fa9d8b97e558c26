import type { PredictionName, Predictions } from './predictions.js';

/** Functions every tariff includes, whatever the model says (as the replaced job did). */
export const MANDATORY_FUNCTIONS = [
  'app blocking',
  'protection from unknown callers',
  'screen time',
] as const;

/** Optional functions, offered when the model gives the user a probability above 0.5 of using them. */
export const OPTIONAL_FUNCTIONS: readonly (readonly [PredictionName, string])[] = [
  ['predicted_function_map', 'saved places on the map'],
  ['predicted_function_ignore_sound', 'ignore silent mode'],
  ['predicted_function_listen_sound', 'listen to the sound around the child'],
  ['predicted_function_detailed_routes', 'detailed route history'],
  ['predicted_function_sos_signal', 'SOS signal'],
  ['predicted_function_invite_second_parent', 'invite a second parent'],
];

export const OFFER_PROBABILITY_THRESHOLD = 0.5;

/** The tariff text: mandatory functions, then each optional function above the threshold. */
export function offerText(predictions: Predictions): string {
  const optional = OPTIONAL_FUNCTIONS.filter(
    ([name]) => predictions[name] > OFFER_PROBABILITY_THRESHOLD,
  ).map(([, label]) => label);
  return [...MANDATORY_FUNCTIONS, ...optional].join(', ');
}
