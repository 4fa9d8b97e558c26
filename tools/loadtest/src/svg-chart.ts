/**
 * Line charts as standalone SVG text: the report is one HTML file that opens offline, with
 * no script and no CDN.
 */

export type Point = readonly [x: number, y: number | null];

export interface Series {
  readonly name: string;
  readonly color: string;
  readonly points: readonly Point[];
  readonly dashed?: boolean;
  /** Holds each value until the next point (counts such as replicas), instead of a slope. */
  readonly step?: boolean;
}

export interface ChartOptions {
  readonly title: string;
  readonly yLabel: string;
  readonly xLabel?: string;
  readonly series: readonly Series[];
  readonly width?: number;
  readonly height?: number;
  /** Forces the top of the y axis (e.g. a known maximum); otherwise from the data. */
  readonly yMax?: number;
  /** Vertical lines with a label, e.g. "production ends". */
  readonly markers?: readonly { readonly x: number; readonly label: string }[];
}

export function escapeXml(text: string): string {
  return text
    .replaceAll('&', '&amp;')
    .replaceAll('<', '&lt;')
    .replaceAll('>', '&gt;')
    .replaceAll('"', '&quot;')
    .replaceAll("'", '&#39;');
}

/** 1, 2 or 5 times a power of ten: the step that gives about `count` ticks over `span`. */
export function niceStep(span: number, count: number): number {
  if (!(span > 0) || !Number.isFinite(span)) return 1;
  const raw = span / Math.max(1, count);
  const power = 10 ** Math.floor(Math.log10(raw));
  const fraction = raw / power;
  const nice = fraction <= 1 ? 1 : fraction <= 2 ? 2 : fraction <= 5 ? 5 : 10;
  return nice * power;
}

/** Compact axis labels: 950, 1.5k, 20k, 1.2M, 0.25. */
export function formatTick(value: number): string {
  const abs = Math.abs(value);
  if (abs >= 1e6) return `${trim(value / 1e6)}M`;
  if (abs >= 1e3) return `${trim(value / 1e3)}k`;
  return trim(value);
}

function trim(value: number): string {
  return String(Number(value.toPrecision(3)));
}

function round(value: number): string {
  return value.toFixed(1);
}

export function lineChart(options: ChartOptions): string {
  const width = options.width ?? 1100;
  const height = options.height ?? 300;
  const margin = { top: 58, right: 20, bottom: 42, left: 64 };
  const plotWidth = width - margin.left - margin.right;
  const plotHeight = height - margin.top - margin.bottom;

  const xs: number[] = [];
  const ys: number[] = [];
  for (const series of options.series) {
    for (const [x, y] of series.points) {
      xs.push(x);
      if (y !== null && Number.isFinite(y)) ys.push(y);
    }
  }
  const xMin = xs.length === 0 ? 0 : Math.min(...xs);
  const xMaxRaw = xs.length === 0 ? 1 : Math.max(...xs);
  const xMax = xMaxRaw > xMin ? xMaxRaw : xMin + 1;
  const yTop = options.yMax ?? (ys.length === 0 ? 1 : Math.max(...ys));
  const yStep = niceStep(yTop > 0 ? yTop : 1, 5);
  const yMax = Math.max(yStep, Math.ceil((yTop > 0 ? yTop : 1) / yStep) * yStep);
  const xStep = niceStep(xMax - xMin, 10);

  const sx = (x: number): number => margin.left + ((x - xMin) / (xMax - xMin)) * plotWidth;
  const sy = (y: number): number => margin.top + plotHeight - (y / yMax) * plotHeight;

  const parts: string[] = [];
  parts.push(
    `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 ${width} ${height}" width="${width}" height="${height}" role="img" aria-label="${escapeXml(options.title)}" font-family="system-ui, sans-serif" font-size="12">`,
    `<rect x="0" y="0" width="${width}" height="${height}" fill="#fff"/>`,
    `<text x="${margin.left}" y="20" font-size="15" font-weight="600">${escapeXml(options.title)}</text>`,
  );
  for (let y = 0; y <= yMax + yStep / 2; y += yStep) {
    parts.push(
      `<line x1="${margin.left}" x2="${width - margin.right}" y1="${round(sy(y))}" y2="${round(sy(y))}" stroke="#e5e7eb"/>`,
      `<text x="${margin.left - 6}" y="${round(sy(y) + 4)}" text-anchor="end" fill="#374151">${formatTick(y)}</text>`,
    );
  }
  const firstX = Math.ceil(xMin / xStep) * xStep;
  for (let x = firstX; x <= xMax + xStep / 1000; x += xStep) {
    parts.push(
      `<line x1="${round(sx(x))}" x2="${round(sx(x))}" y1="${margin.top + plotHeight}" y2="${margin.top + plotHeight + 4}" stroke="#6b7280"/>`,
      `<text x="${round(sx(x))}" y="${margin.top + plotHeight + 17}" text-anchor="middle" fill="#374151">${formatTick(x)}</text>`,
    );
  }
  parts.push(
    `<line x1="${margin.left}" x2="${margin.left + plotWidth}" y1="${margin.top + plotHeight}" y2="${margin.top + plotHeight}" stroke="#6b7280"/>`,
    `<text x="${margin.left + plotWidth / 2}" y="${height - 6}" text-anchor="middle" fill="#374151">${escapeXml(options.xLabel ?? 'seconds since the start')}</text>`,
    `<text transform="translate(14 ${margin.top + plotHeight / 2}) rotate(-90)" text-anchor="middle" fill="#374151">${escapeXml(options.yLabel)}</text>`,
  );
  for (const marker of options.markers ?? []) {
    if (marker.x < xMin || marker.x > xMax) continue;
    parts.push(
      `<line x1="${round(sx(marker.x))}" x2="${round(sx(marker.x))}" y1="${margin.top}" y2="${margin.top + plotHeight}" stroke="#9ca3af" stroke-dasharray="4 3"/>`,
      // Near the right edge the label goes left of the line so that it is not cut off.
      sx(marker.x) > width - margin.right - 120
        ? `<text x="${round(sx(marker.x) - 4)}" y="${margin.top + 12}" text-anchor="end" fill="#6b7280">${escapeXml(marker.label)}</text>`
        : `<text x="${round(sx(marker.x) + 4)}" y="${margin.top + 12}" fill="#6b7280">${escapeXml(marker.label)}</text>`,
    );
  }

  for (const series of options.series) {
    const segments: string[] = [];
    let current = '';
    let lastY: number | null = null;
    for (const [x, y] of series.points) {
      if (y === null || !Number.isFinite(y)) {
        if (current !== '') segments.push(current);
        current = '';
        lastY = null;
        continue;
      }
      const px = round(sx(x));
      const py = round(sy(Math.min(y, yMax)));
      if (current === '') current = `M${px},${py}`;
      else if (series.step === true && lastY !== null)
        current += ` L${px},${round(sy(Math.min(lastY, yMax)))} L${px},${py}`;
      else current += ` L${px},${py}`;
      lastY = y;
    }
    if (current !== '') segments.push(current);
    for (const path of segments) {
      parts.push(
        `<path d="${path}" fill="none" stroke="${series.color}" stroke-width="1.8"${series.dashed === true ? ' stroke-dasharray="6 4"' : ''} stroke-linejoin="round"/>`,
      );
    }
  }

  let legendX = margin.left + 8;
  const legendY = 42;
  for (const series of options.series) {
    parts.push(
      `<line x1="${legendX}" x2="${legendX + 18}" y1="${legendY - 4}" y2="${legendY - 4}" stroke="${series.color}" stroke-width="3"${series.dashed === true ? ' stroke-dasharray="6 4"' : ''}/>`,
      `<text x="${legendX + 22}" y="${legendY}" fill="#111827">${escapeXml(series.name)}</text>`,
    );
    legendX += 30 + series.name.length * 7;
  }
  if (ys.length === 0) {
    parts.push(
      `<text x="${margin.left + plotWidth / 2}" y="${margin.top + plotHeight / 2}" text-anchor="middle" fill="#9ca3af">no data</text>`,
    );
  }
  parts.push('</svg>');
  return parts.join('\n');
}
