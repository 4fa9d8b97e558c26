/**
 * Seeded random registrations in the three wire shapes the consumer accepts. Used by the
 * `send` command, the tests and the load generator; the same seed gives the same messages.
 */

// Weighted towards the head like real traffic: the first entries are far more frequent.
const COUNTRIES = [
  'ru',
  'kz',
  'by',
  'ua',
  'uz',
  'us',
  'de',
  'tr',
  'ae',
  'am',
  'ge',
  'kg',
  'az',
  'il',
  'gb',
  'fr',
  'es',
  'it',
  'pl',
  'in',
];
const LANGUAGES = [
  'ru',
  'en',
  'kk',
  'uk',
  'uz',
  'de',
  'tr',
  'ar',
  'hy',
  'ka',
  'ky',
  'az',
  'he',
  'fr',
  'es',
];
const PLATFORMS = [
  ['Android', 'Google Play'],
  ['Android', 'AppGallery'],
  ['Android', 'GetApps'],
  ['Android', 'Galaxy Store'],
  ['Android', 'RuStore'],
  ['iOS', 'App Store'],
  ['Android', 'APK'],
  ['HarmonyOS', 'AppGallery'],
] as const;
const ANDROID_BRANDS = [
  'samsung',
  'xiaomi',
  'redmi',
  'realme',
  'huawei',
  'honor',
  'poco',
  'tecno',
  'infinix',
  'oppo',
  'vivo',
  'oneplus',
  'motorola',
  'nokia',
  'google',
];
const CHILD_BRANDS = [
  ...ANDROID_BRANDS,
  'iphone',
  'elari',
  'aimoto',
  'smart baby watch',
  'jet kid',
];

export type WireShape = 'envelope-string' | 'envelope-object' | 'bare';
export const WIRE_SHAPES: readonly WireShape[] = ['envelope-string', 'envelope-object', 'bare'];

export interface GeneratedMessage {
  readonly userId: number;
  readonly key: string;
  readonly value: string;
}

/** mulberry32: tiny, fast, and good enough for test data. */
export function seededRandom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
}

function skewed<T>(random: () => number, values: readonly T[]): T {
  // Squaring a uniform draw favours low indexes: a long tail, like category counts in the wild.
  const value = values[Math.floor(random() ** 2 * values.length)];
  if (value === undefined) throw new Error('cannot pick from an empty list');
  return value;
}

export function randomRegistration(random: () => number, userId: number): Record<string, unknown> {
  const [platform, store] = skewed(random, PLATFORMS);
  const country = skewed(random, COUNTRIES);
  return {
    // Both id variants of the replaced system's producers, and both id encodings.
    ...(random() < 0.5 ? { user_id: String(userId) } : { id: userId }),
    ip_country: random() < 0.02 ? null : random() < 0.9 ? country : skewed(random, COUNTRIES),
    device_country: country,
    device_language: random() < 0.8 && country === 'ru' ? 'ru' : skewed(random, LANGUAGES),
    platform,
    platform_store: store,
    smartphone_brand:
      platform === 'iOS'
        ? 'iphone'
        : platform === 'HarmonyOS'
          ? 'huawei'
          : skewed(random, ANDROID_BRANDS),
    is_organic: random() < 0.35 ? 1 : 0,
    child_age: random() < 0.15 ? null : 4 + Math.floor(random() * 14),
    child_smartphone_brand: random() < 0.15 ? null : skewed(random, CHILD_BRANDS),
  };
}

export function encodeRegistration(
  registration: Record<string, unknown>,
  shape: WireShape,
): string {
  const schema = { type: 'string', optional: false };
  switch (shape) {
    case 'envelope-string':
      return JSON.stringify({ schema, payload: JSON.stringify(registration) });
    case 'envelope-object':
      return JSON.stringify({ schema, payload: registration });
    case 'bare':
      return JSON.stringify(registration);
  }
}

/** Registrations for user ids `firstUserId ..`, cycling through the wire shapes. */
export function* generateMessages(options: {
  readonly count: number;
  readonly firstUserId: number;
  readonly seed: number;
  readonly shapes?: readonly WireShape[];
}): Generator<GeneratedMessage> {
  const random = seededRandom(options.seed);
  const shapes = options.shapes ?? WIRE_SHAPES;
  for (let index = 0; index < options.count; index += 1) {
    const userId = options.firstUserId + index;
    const shape = shapes[index % shapes.length] ?? 'bare';
    yield {
      userId,
      key: String(userId),
      value: encodeRegistration(randomRegistration(random, userId), shape),
    };
  }
}

/** Messages the consumer must dead-letter, one per rejection reason that a producer can cause. */
export const INVALID_SAMPLES: readonly { readonly reason: string; readonly value: string }[] = [
  { reason: 'not_json', value: '{"user_id": 1, "platform": ' },
  { reason: 'not_object', value: '[1, 2, 3]' },
  { reason: 'missing_id', value: '{"platform":"iOS"}' },
  { reason: 'invalid_id', value: '{"user_id":"-7","platform":"iOS"}' },
  { reason: 'invalid_field', value: '{"user_id":5,"child_age":"twelve"}' },
  { reason: 'forbidden_key', value: '{"user_id":5,"__proto__":{"polluted":true}}' },
  {
    reason: 'not_object',
    value: JSON.stringify({ schema: { type: 'string' }, payload: 42 }),
  },
];
