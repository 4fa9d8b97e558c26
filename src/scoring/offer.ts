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

/** The text of every combination of optional functions, by bit mask (bit i: function i). */
const OFFER_TEXTS: readonly string[] = Array.from(
  { length: 2 ** OPTIONAL_FUNCTIONS.length },
  (_, mask) =>
    [
      ...MANDATORY_FUNCTIONS,
      ...OPTIONAL_FUNCTIONS.filter((_, bit) => (mask & (1 << bit)) !== 0).map(([, label]) => label),
    ].join(', '),
);

/** The tariff text: mandatory functions, then each optional function above the threshold. */
export function offerText(predictions: Predictions): string {
  let mask = 0;
  for (let bit = 0; bit < OPTIONAL_FUNCTIONS.length; bit += 1) {
    const name = OPTIONAL_FUNCTIONS[bit]?.[0];
    if (name !== undefined && predictions[name] > OFFER_PROBABILITY_THRESHOLD) mask |= 1 << bit;
  }
  return OFFER_TEXTS[mask] ?? '';
}
