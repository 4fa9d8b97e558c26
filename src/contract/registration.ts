/**
 * A decoded, validated user registration: exactly what the model needs, nothing more.
 * Missing categoricals and numbers are `null`; the model imputes them.
 */
export interface Registration {
  readonly userId: number;
  readonly ipCountry: string | null;
  readonly deviceCountry: string | null;
  readonly deviceLanguage: string | null;
  readonly platform: string | null;
  readonly platformStore: string | null;
  readonly smartphoneBrand: string | null;
  readonly childSmartphoneBrand: string | null;
  readonly isOrganic: number | null;
  readonly childAge: number | null;
}

/** The categorical fields of a registration message, and the property each becomes. */
export const CATEGORICAL_FIELDS = {
  ip_country: 'ipCountry',
  device_country: 'deviceCountry',
  device_language: 'deviceLanguage',
  platform: 'platform',
  platform_store: 'platformStore',
  smartphone_brand: 'smartphoneBrand',
  child_smartphone_brand: 'childSmartphoneBrand',
} as const satisfies Record<string, keyof Registration>;

/** The numeric fields of a registration message, and the property each becomes. */
export const NUMERIC_FIELDS = {
  is_organic: 'isOrganic',
  child_age: 'childAge',
} as const satisfies Record<string, keyof Registration>;
