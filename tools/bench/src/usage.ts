/**
 * `--help`: prints a benchmark's usage and exits before it starts anything (services,
 * consumers, the model), so reading the options costs nothing.
 */
export function exitOnHelp(usage: string, argv: readonly string[] = process.argv.slice(2)): void {
  if (argv.includes('--help') || argv.includes('-h')) {
    console.log(usage);
    process.exit(0);
  }
}
