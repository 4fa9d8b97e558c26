/**
 * Kubernetes resource quantities ("1500", "1k", "250m", "1.5Gi", "2e3") as numbers. The HPA
 * reports KEDA's lag metric this way, e.g. `averageValue: "2500m"` for a lag of 2.5 per pod.
 */

const SUFFIXES: Readonly<Record<string, number>> = {
  n: 1e-9,
  u: 1e-6,
  m: 1e-3,
  '': 1,
  k: 1e3,
  M: 1e6,
  G: 1e9,
  T: 1e12,
  P: 1e15,
  E: 1e18,
  Ki: 2 ** 10,
  Mi: 2 ** 20,
  Gi: 2 ** 30,
  Ti: 2 ** 40,
  Pi: 2 ** 50,
  Ei: 2 ** 60,
};

const QUANTITY = /^([+-]?(?:\d+\.?\d*|\.\d+))(?:([eE][+-]?\d+)|(Ki|Mi|Gi|Ti|Pi|Ei|[numkMGTPE])?)$/;

/** The number a quantity stands for; undefined when the text is not a quantity. */
export function parseQuantity(text: string | number | undefined | null): number | undefined {
  if (typeof text === 'number') return Number.isFinite(text) ? text : undefined;
  if (text === undefined || text === null) return undefined;
  const match = QUANTITY.exec(text.trim());
  if (match === null) return undefined;
  const [, digits = '', exponent, suffix = ''] = match;
  const base = Number(digits);
  if (exponent !== undefined) return base * 10 ** Number(exponent.slice(1));
  const factor = SUFFIXES[suffix];
  return factor === undefined ? undefined : base * factor;
}
