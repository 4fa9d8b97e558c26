/**
 * One clean registration as producers write it (the wire's field names), for tests that build
 * edge-case and hostile messages by changing or adding fields.
 */

/** Every field of the sample registration but its user id. */
export const SAMPLE_FIELDS: Readonly<Record<string, string | number>> = Object.freeze({
  ip_country: 'ru',
  device_country: 'ru',
  device_language: 'ru',
  platform: 'Android',
  platform_store: 'Google Play',
  smartphone_brand: 'samsung',
  is_organic: 0,
  child_age: 13,
  child_smartphone_brand: 'samsung',
});

/** The sample registration of `userId` (its first field), with `fields` changed or added. */
export function sampleRegistration(
  userId: string | number,
  fields: Readonly<Record<string, unknown>> = {},
): Record<string, unknown> {
  return { user_id: userId, ...SAMPLE_FIELDS, ...fields };
}
