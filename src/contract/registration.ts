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
