/** Output names of the model graph, in the order the offer table stores them. */
export const PREDICTION_NAMES = [
  'predicted_cost',
  'predicted_subscription',
  'predicted_function_map',
  'predicted_function_ignore_sound',
  'predicted_function_listen_sound',
  'predicted_function_detailed_routes',
  'predicted_function_sos_signal',
  'predicted_function_invite_second_parent',
] as const;

export type PredictionName = (typeof PREDICTION_NAMES)[number];

/** The eight predictions for one registration. */
export type Predictions = Readonly<Record<PredictionName, number>>;
